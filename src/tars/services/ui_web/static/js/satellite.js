// The browser as a satellite: its microphone (echo cancellation and noise suppression on)
// streams 16 kHz s16le frames over the WebSocket, and the satellite's spoken replies
// (binary messages: uint32 LE sample rate, then s16le samples) play back in order.
import { toast } from "./dom.js";

export class BrowserSatellite {
  constructor(link, { onLevel, onChange }) {
    this.link = link;
    this.onLevel = onLevel;
    this.onChange = onChange;
    this.context = null;
    this.workletLoaded = false;
    this.stream = null;
    this.node = null;
    this.micOn = false;
    this.speakerOn = false;
    this.satellite = null;
    this.playhead = 0;
    this.sources = new Set();
    this.stats = { framesSent: 0, chunksPlayed: 0, samplesPlayed: 0, playing: false };
    window.tarsSatellite = this.stats;  // read by the browser tests
  }

  async audioContext() {
    if (!this.context) this.context = new AudioContext({ latencyHint: "interactive" });
    if (this.context.state !== "running") await this.context.resume();
    return this.context;
  }

  async startMic(satellite) {
    if (!navigator.mediaDevices?.getUserMedia) {
      toast("This page cannot use the microphone here: open it over HTTPS or on localhost.");
      return;
    }
    const context = await this.audioContext();
    // The capture code is loaded before the microphone opens: what is said in the meantime
    // would otherwise be lost (the start of a wake word said right after the click).
    if (!this.workletLoaded) {
      await context.audioWorklet.addModule("/static/js/capture-worklet.js");
      this.workletLoaded = true;
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    const source = context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(context, "tars-capture", {
      processorOptions: { targetRate: 16000, frameSamples: 320 },
    });
    this.node.port.onmessage = ({ data }) => {
      this.link.sendBinary(data.pcm);
      this.stats.framesSent += 1;
      this.onLevel(data.level);
    };
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(context.destination);
    this.satellite = satellite;
    this.micOn = true;
    this.link.send({ type: "mic", on: true, satellite });
    await this.setSpeaker(true, satellite);
    this.onChange();
  }

  stopMic() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.node?.disconnect();
    this.stream = null;
    this.node = null;
    this.micOn = false;
    if (this.satellite) this.link.send({ type: "mic", on: false, satellite: this.satellite });
    this.onChange();
  }

  async setSpeaker(on, satellite) {
    if (on) await this.audioContext();
    this.speakerOn = on;
    this.satellite = satellite;
    this.link.send({ type: "speaker", on, satellite });
    if (!on) this.flush();
    this.onChange();
  }

  resend() {
    // After a reconnect the backend knows nothing of this page: say again what it does.
    if (this.micOn) this.link.send({ type: "mic", on: true, satellite: this.satellite });
    if (this.speakerOn) this.link.send({ type: "speaker", on: true, satellite: this.satellite });
  }

  play(buffer) {
    if (!this.speakerOn || !this.context || buffer.byteLength < 6) return;
    const rate = new DataView(buffer).getUint32(0, true);
    const pcm = new Int16Array(buffer, 4, (buffer.byteLength - 4) >> 1);
    const audio = this.context.createBuffer(1, pcm.length, rate);
    const channel = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i += 1) channel[i] = pcm[i] / 32768;
    const source = this.context.createBufferSource();
    source.buffer = audio;
    source.connect(this.context.destination);
    const start = Math.max(this.context.currentTime + 0.03, this.playhead);
    source.start(start);
    this.playhead = start + audio.duration;
    this.sources.add(source);
    this.stats.chunksPlayed += 1;
    this.stats.samplesPlayed += pcm.length;
    this.stats.playing = true;
    this.onChange();
    source.onended = () => {
      this.sources.delete(source);
      if (!this.sources.size) {
        this.stats.playing = false;
        this.onChange();
      }
    };
  }

  flush() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.playhead = 0;
  }

  onBusEvent(event) {
    // A barge-in or stop on this satellite: drop the reply audio already scheduled.
    const data = event.data;
    if (event.topic === "tts/status" && data.event === "stopped" && data.satellite === this.satellite) this.flush();
  }
}
