// AudioWorklet: the browser microphone at the context's rate (usually 48 kHz) to 16 kHz mono
// s16le, in 20 ms frames (320 samples) posted to the page with their level in dBFS.
// A windowed-sinc low-pass below 16 kHz's Nyquist, then linear interpolation at the output
// instants, handles any input rate (48000, 44100, ...).

class TarsCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const config = options.processorOptions || {};
    this.target = config.targetRate || 16000;
    this.frame = config.frameSamples || 320;
    this.step = sampleRate / this.target;
    const cutoff = Math.min(0.5, (0.45 * this.target) / sampleRate);
    const taps = Math.max(15, 2 * Math.ceil(8 * this.step) + 1);
    this.kernel = new Float32Array(taps);
    let sum = 0;
    for (let n = 0; n < taps; n += 1) {
      const m = n - (taps - 1) / 2;
      const sinc = m === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * m) / (Math.PI * m);
      const window = 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / (taps - 1))
        + 0.08 * Math.cos((4 * Math.PI * n) / (taps - 1));
      this.kernel[n] = sinc * window;
      sum += this.kernel[n];
    }
    for (let n = 0; n < taps; n += 1) this.kernel[n] /= sum;
    this.ring = new Float32Array(taps);
    this.ringPos = 0;
    this.index = 0;
    this.next = 0;
    this.previous = 0;
    this.out = new Int16Array(this.frame);
    this.filled = 0;
    this.energy = 0;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    const sample = Math.round(clamped * 32767);
    this.out[this.filled] = sample;
    this.energy += sample * sample;
    this.filled += 1;
    if (this.filled === this.frame) {
      const rms = Math.sqrt(this.energy / this.frame);
      const level = rms > 0 ? Math.max(-100, 20 * Math.log10(rms / 32768)) : -100;
      const buffer = this.out.buffer;
      this.port.postMessage({ pcm: buffer, level }, [buffer]);
      this.out = new Int16Array(this.frame);
      this.filled = 0;
      this.energy = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const first = input[0];
    const taps = this.kernel.length;
    for (let i = 0; i < first.length; i += 1) {
      let x = first[i];
      if (input.length > 1) x = 0.5 * (x + input[1][i]);
      this.ring[this.ringPos] = x;
      this.ringPos = (this.ringPos + 1) % taps;
      let y = 0;
      for (let j = 0; j < taps; j += 1) y += this.kernel[j] * this.ring[(this.ringPos + j) % taps];
      while (this.next <= this.index) {
        const fraction = this.next - (this.index - 1);
        this.emit(this.previous + (y - this.previous) * fraction);
        this.next += this.step;
      }
      this.previous = y;
      this.index += 1;
    }
    if (this.index > 1e9) {
      this.index -= 1e9;
      this.next -= 1e9;
    }
    return true;
  }
}

registerProcessor("tars-capture", TarsCapture);
