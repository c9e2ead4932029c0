// Per-stage timings of recent turns (conversation/turn timings_ms) as stacked bars.
import { $, h, s } from "./dom.js";

// Stages that follow each other from a final transcript to the first reply audio.
const SEQUENCE = ["stt_to_router", "router_to_first_sentence", "tts_first_audio"];
// Stages measured inside another (drawn as a tick, not stacked).
const INSIDE = { router_to_llm_first_delta: "router_to_first_sentence" };
const COLORS = ["#63b3ed", "#4fd1c5", "#f6ad55", "#b794f4", "#fc8181", "#68d391", "#f687b3"];
const LABELS = {
  stt_to_router: "stt → router", router_to_first_sentence: "router → first sentence",
  tts_first_audio: "tts first audio", router_to_llm_first_delta: "llm first token",
};
const SHOWN = 12;

export class LatencyView {
  constructor() {
    this.turns = [];
    this.render();
  }

  reset(turns) {
    this.turns = turns.slice(-SHOWN);
    this.render();
  }

  add(turn) {
    this.turns.push(turn);
    this.turns = this.turns.slice(-SHOWN);
    this.render();
  }

  stages() {
    const keys = new Set();
    for (const turn of this.turns) for (const key of Object.keys(turn.timings_ms || {})) keys.add(key);
    const stacked = SEQUENCE.filter((k) => keys.has(k));
    for (const key of [...keys].sort()) if (!stacked.includes(key) && !(key in INSIDE)) stacked.push(key);
    return { stacked, ticks: [...keys].filter((k) => k in INSIDE) };
  }

  render() {
    const root = $("#latency");
    const timed = this.turns.filter((t) => Object.keys(t.timings_ms || {}).length);
    if (!timed.length) {
      root.replaceChildren(h("p", { class: "empty" }, "Timings appear after the first answered turn."));
      return;
    }
    const { stacked, ticks } = this.stages();
    const color = (key) => COLORS[[...stacked, ...ticks].indexOf(key) % COLORS.length];
    const totals = timed.map((t) => stacked.reduce((sum, k) => sum + (t.timings_ms[k] || 0), 0));
    const max = Math.max(...totals, 1);
    const width = 420, rowH = 18, left = 96, right = 46, top = 4;
    const chart = s("svg", { viewBox: `0 0 ${width} ${top + timed.length * rowH + 16}`, role: "img" });
    const scale = (ms) => (ms / max) * (width - left - right);
    timed.forEach((turn, index) => {
      const y = top + index * rowH;
      const label = `${turn.satellite} ${new Date(turn.ts * 1000).toLocaleTimeString([], { hour12: false })}`;
      chart.append(s("text", { x: 0, y: y + 12 }, label));
      let x = left;
      for (const key of stacked) {
        const value = turn.timings_ms[key] || 0;
        if (!value) continue;
        const rect = s("rect", { x, y: y + 3, width: Math.max(1, scale(value)), height: rowH - 6, rx: 2, fill: color(key) });
        rect.append(s("title", {}, `${LABELS[key] || key}: ${value.toFixed(0)} ms`));
        chart.append(rect);
        if (key === "router_to_first_sentence") {
          for (const tick of ticks) {
            const inner = turn.timings_ms[tick];
            if (inner) chart.append(s("rect", { x: x + scale(inner) - 1, y: y + 1, width: 2, height: rowH - 2, fill: color(tick) }));
          }
        }
        x += scale(value);
      }
      chart.append(s("text", { x: x + 4, y: y + 12 }, `${totals[index].toFixed(0)}`));
    });
    const swatch = (key) => {
      const box = h("i");
      box.style.background = color(key);  // CSSOM, allowed by the page's CSP
      return box;
    };
    const legend = h("div", { class: "legend" }, [...stacked, ...ticks].map((key) =>
      h("span", {}, swatch(key), LABELS[key] || key)));
    root.replaceChildren(chart, legend);
  }
}
