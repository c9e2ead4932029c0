// One WebSocket to the backend, reconnected with backoff. JSON messages go to onMessage,
// binary ones (reply audio) to onBinary; send() and sendBinary() drop while disconnected.

export class Link {
  constructor({ onMessage, onBinary, onState }) {
    this.onMessage = onMessage;
    this.onBinary = onBinary;
    this.onState = onState;
    this.socket = null;
    this.backoff = 500;
    this.onOpenHooks = [];
    this.stats = { opened: 0, closed: 0, lastClose: null };
    window.tarsLink = this.stats;  // read by the browser tests
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      this.backoff = 500;
      this.stats.opened += 1;
      this.onState(true);
      for (const hook of this.onOpenHooks) hook();
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.onMessage(JSON.parse(event.data));
      else this.onBinary(event.data);
    };
    socket.onclose = (event) => {
      this.stats.closed += 1;
      this.stats.lastClose = `${event.code} ${event.reason}`;
      this.onState(false);
      if (this.socket !== socket) return;
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 8000);
    };
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (this.open) this.socket.send(JSON.stringify(message));
  }

  sendBinary(buffer) {
    // Keep latency bounded: if the socket is backed up, drop the frame rather than queue it.
    if (this.open && this.socket.bufferedAmount < 64000) this.socket.send(buffer);
  }
}
