// The live conversation: one bubble per utterance or reply, updated in place (partials grow,
// replies stream), with notes saying why a turn got no answer. Filterable per satellite.
import { $, h, clock, api, toast } from "./dom.js";

const TAGS = {
  partial: "hearing…", typed: "typed", rejected: "not answered", continued: "continued",
  interrupted: "interrupted", error: "error", thinking: "thinking…", ack: "wake ack",
  announce: "announcement",
};
const WHO = { user: "You", tars: "TARS", note: "" };
const PLACEHOLDERS = {
  "user:rejected": "(nothing intelligible)", "tars:interrupted": "(stopped before it spoke)",
  "tars:error": "(no reply)", "tars:done": "(nothing to say)",
};
const MAX_LINES = 400;

export class ConversationView {
  constructor(app) {
    this.app = app;
    this.lines = new Map();
    this.elements = new Map();
    this.states = new Map();
    this.filter = null;
    this.list = $("#lines");
    $("#composer").addEventListener("submit", (event) => this.submit(event));
  }

  reset(lines, states) {
    this.lines.clear();
    this.elements.clear();
    this.list.replaceChildren();
    for (const state of states) this.states.set(state.satellite, state);
    for (const line of lines) this.upsert(line, false);
    this.renderChips();
    this.renderPhase();
    this.scroll(true);
  }

  upsert(line, live = true) {
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    const isNew = !this.lines.has(line.id);
    this.lines.set(line.id, line);
    const element = this.render(line);
    const old = this.elements.get(line.id);
    if (old) old.replaceWith(element);
    else this.list.append(element);
    this.elements.set(line.id, element);
    if (this.lines.size > MAX_LINES) {
      const [oldest] = this.lines.keys();
      this.lines.delete(oldest);
      this.elements.get(oldest)?.remove();
      this.elements.delete(oldest);
    }
    if (live && isNew) this.renderChips();
    $("#lines-empty").hidden = this.lines.size > 0;
    if (live) this.scroll(nearBottom);
  }

  setState(state) {
    this.states.set(state.satellite, state);
    this.renderChips();
    this.renderPhase();
  }

  render(line) {
    const visible = this.filter === null || this.filter === line.satellite;
    const tag = TAGS[line.state];
    const meta = h("div", { class: "meta" },
      WHO[line.role] ? h("b", {}, WHO[line.role]) : null,
      h("span", { class: "tag sat" }, line.satellite),
      tag ? h("span", { class: `tag ${line.state}` }, tag) : null,
      h("span", {}, clock(line.ts)));
    const text = line.text || PLACEHOLDERS[`${line.role}:${line.state}`] || "";
    return h("li", {
      class: `line ${line.role} ${line.state}`, dataset: { id: line.id, satellite: line.satellite },
      hidden: !visible,
    },
      line.role === "note" ? null : meta,
      h("div", { class: "bubble" }, text),
      line.detail && line.role !== "note" ? h("div", { class: "detail" }, line.detail) : null);
  }

  satellites() {
    const names = new Set();
    for (const line of this.lines.values()) names.add(line.satellite);
    for (const name of this.states.keys()) names.add(name);
    return [...names].sort();
  }

  renderChips() {
    const chip = (label, value) => h("button", {
      class: `chip ${this.filter === value ? "active" : ""}`, type: "button",
      onclick: () => this.select(value),
    }, label);
    $("#sat-chips").replaceChildren(chip("all", null), ...this.satellites().map((s) => chip(s, s)));
  }

  select(satellite) {
    this.filter = satellite;
    for (const [id, element] of this.elements) {
      element.hidden = satellite !== null && this.lines.get(id).satellite !== satellite;
    }
    this.renderChips();
    this.renderPhase();
    this.scroll(true);
  }

  renderPhase() {
    const satellite = this.filter ?? this.app.satellite();
    const state = this.states.get(satellite);
    const phase = $("#phase");
    phase.replaceChildren(state ? h("span", {}, `${satellite} · `, h("b", {}, state.phase),
      state.live_mode ? " · live mode" : "") : "");
  }

  scroll(force) {
    if (force) this.list.scrollTop = this.list.scrollHeight;
  }

  async submit(event) {
    event.preventDefault();
    const input = $("#say");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    try {
      await api("/api/say", { body: { text, satellite: this.app.satellite() } });
    } catch (error) {
      toast(`Not sent: ${error.message}`);
      input.value = text;
    }
  }
}
