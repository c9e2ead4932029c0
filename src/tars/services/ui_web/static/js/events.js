// The live event stream: every JSON message on the bus, newest first, with a topic filter
// (MQTT wildcards + and #, or plain text) and pause. Click a row to see the whole payload.
import { $, h, clock } from "./dom.js";

const KEPT = 500;

function matcher(filter) {
  const text = filter.trim();
  if (!text) return () => true;
  if (text.includes("+") || text.includes("#") || text.includes("/")) {
    const levels = text.split("/");
    return (topic) => {
      const parts = topic.split("/");
      for (let i = 0; i < levels.length; i += 1) {
        if (levels[i] === "#") return true;
        if (i >= parts.length || (levels[i] !== "+" && levels[i] !== parts[i])) return false;
      }
      return levels.length === parts.length;
    };
  }
  return (topic) => topic.includes(text);
}

export class EventsView {
  constructor() {
    this.events = [];
    this.paused = false;
    this.held = 0;
    this.match = () => true;
    this.list = $("#events");
    $("#event-filter").addEventListener("input", (e) => {
      this.match = matcher(e.target.value);
      this.render();
    });
    $("#event-pause").addEventListener("click", () => this.togglePause());
    $("#event-clear").addEventListener("click", () => { this.events = []; this.render(); });
  }

  reset(events) {
    this.events = events.slice(-KEPT);
    this.render();
  }

  add(event) {
    this.events.push(event);
    if (this.events.length > KEPT) this.events.shift();
    if (this.paused) {
      if (this.match(event.topic)) this.held += 1;
      this.count();
      return;
    }
    if (this.match(event.topic)) {
      this.list.prepend(this.row(event));
      while (this.list.childElementCount > KEPT) this.list.lastElementChild.remove();
    }
    this.count();
  }

  togglePause() {
    this.paused = !this.paused;
    this.held = 0;
    $("#event-pause").textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) this.render();
    this.count();
  }

  row(event) {
    // The one-line summary leaves out the per-message id; the expanded view shows it all.
    const { message_id: _, ...summary } = event.data || {};
    const body = JSON.stringify(summary);
    const row = h("li", { class: "event", dataset: { topic: event.topic } },
      h("span", { class: "t" }, clock(event.ts)),
      h("span", { class: "topic", title: event.topic }, event.topic),
      h("span", { class: "src" }, event.source),
      h("span", { class: "body" }, body));
    row.addEventListener("click", () => {
      row.classList.toggle("open");
      row.lastChild.textContent = row.classList.contains("open") ? JSON.stringify(event.data, null, 2) : body;
    });
    return row;
  }

  render() {
    const shown = this.events.filter((e) => this.match(e.topic)).reverse();
    this.list.replaceChildren(...shown.map((e) => this.row(e)));
    this.count();
  }

  count() {
    const shown = this.list.childElementCount;
    $("#event-count").textContent = this.paused
      ? `paused · ${this.held} new`
      : `${shown} shown of ${this.events.length}`;
  }
}
