// Service health tiles: ok, starting, stale (no heartbeat for three intervals), stopped, lost,
// failed. Re-judged every second against the server's clock.
import { $, h, ago } from "./dom.js";

const STALE_HEARTBEATS = 3;

export class HealthView {
  constructor(app) {
    this.app = app;
    this.rows = new Map();
    this.heartbeat = 10;
    setInterval(() => this.render(), 1000);
  }

  reset(rows, heartbeat) {
    this.heartbeat = heartbeat;
    this.rows.clear();
    for (const row of rows) this.rows.set(row.service, row);
    this.render();
  }

  update(row) {
    this.rows.set(row.service, row);
    this.render();
  }

  condition(row, now) {
    if (!row.ok) {
      if (row.event === "shutdown") return "stopped";
      return row.event === "lost" ? "lost" : "failed";
    }
    if (now - row.timestamp > STALE_HEARTBEATS * this.heartbeat) return "stale";
    return row.event === "starting" || row.event === "loading" ? "starting" : "ok";
  }

  render() {
    const now = this.app.now();
    const tiles = [];
    let healthy = 0;
    for (const name of [...this.rows.keys()].sort()) {
      const row = this.rows.get(name);
      const condition = this.condition(row, now);
      if (condition === "ok") healthy += 1;
      tiles.push(h("div", { class: `svc ${condition}`, dataset: { service: name, condition } },
        h("div", { class: "svc-name" }, h("span", { class: "dot" }), name),
        h("div", { class: "svc-state" }, condition === "ok" ? row.event || "ok" : condition,
          condition !== "ok" && row.event && row.event !== condition ? ` (${row.event})` : ""),
        row.err ? h("div", { class: "svc-err" }, row.err) : null,
        h("div", { class: "svc-age" }, ago(Math.max(0, now - row.timestamp)))));
    }
    $("#health").replaceChildren(...(tiles.length ? tiles : [h("p", { class: "empty" }, "No service has reported yet.")]));
    $("#health-summary").textContent = this.rows.size ? `${healthy} of ${this.rows.size} healthy` : "";
  }
}
