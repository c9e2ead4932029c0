// Microphone level meters: every satellite on the bus, plus this browser's own microphone.
import { $, h } from "./dom.js";

const FLOOR_DB = -70;

export class LevelsView {
  constructor() {
    this.meters = new Map();
    this.render();
  }

  set(satellite, db) {
    let meter = this.meters.get(satellite);
    if (!meter) {
      const fill = h("div", { class: "fill" });
      const peak = h("div", { class: "peak" });
      const value = h("span", { class: "db" });
      const row = h("div", { class: "level", dataset: { satellite } },
        h("span", {}, satellite), h("div", { class: "meter" }, fill, peak), value);
      meter = { row, fill, peak, value, peakDb: FLOOR_DB, peakAt: 0 };
      this.meters.set(satellite, meter);
      this.render();
    }
    const percent = (d) => `${Math.max(0, Math.min(100, ((d - FLOOR_DB) / -FLOOR_DB) * 100))}%`;
    const now = performance.now();
    if (db >= meter.peakDb || now - meter.peakAt > 1500) {
      meter.peakDb = db;
      meter.peakAt = now;
    }
    meter.fill.style.width = percent(db);
    meter.peak.style.left = percent(meter.peakDb);
    meter.value.textContent = db <= -99 ? "—" : db.toFixed(0);
  }

  render() {
    const rows = [...this.meters.keys()].sort().map((name) => this.meters.get(name).row);
    $("#levels").replaceChildren(...(rows.length ? rows
      : [h("p", { class: "empty" }, "No microphone is streaming.")]));
  }
}
