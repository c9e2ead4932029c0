// Memory search: asks the memory service (through the backend) and lists what it returns.
import { $, h, api, toast } from "./dom.js";

function describe(document) {
  if (typeof document === "string") return [h("div", { class: "a" }, document)];
  const user = document.user ?? document.user_text ?? document.text;
  const reply = document.reply ?? document.assistant;
  return [
    user ? h("div", { class: "q" }, `“${user}”`) : null,
    reply ? h("div", { class: "a" }, reply) : null,
    !user && !reply ? h("div", { class: "a" }, JSON.stringify(document)) : null,
  ];
}

export class MemoryView {
  constructor() {
    $("#memory-form").addEventListener("submit", (event) => this.search(event));
  }

  async search(event) {
    event.preventDefault();
    const text = $("#memory-query").value.trim();
    if (!text) return;
    const list = $("#memory-results");
    list.replaceChildren(h("li", { class: "muted" }, "Searching…"));
    try {
      const k = $("#memory-k").value;
      const results = await api(`/api/memory?q=${encodeURIComponent(text)}&k=${k}`);
      const items = results.results.map((result) => h("li", {},
        h("span", { class: "score" }, [
          result.score !== null && result.score !== undefined ? `score ${result.score.toFixed(3)}` : "",
          result.timestamp ? ` · ${result.timestamp.replace("T", " ").slice(0, 19)}` : "",
        ].join("")),
        ...describe(result.document)));
      list.replaceChildren(...(items.length ? items : [h("li", { class: "muted" }, "Nothing found.")]));
    } catch (error) {
      list.replaceChildren();
      toast(`Search failed: ${error.message}`);
    }
  }
}
