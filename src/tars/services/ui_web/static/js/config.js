// The configuration in force: every settings model with its environment variables (secrets
// redacted by the backend), loaded when the tab is first opened.
import { $, h, api, toast } from "./dom.js";

export class ConfigView {
  constructor() {
    this.settings = null;
    $("#config-filter").addEventListener("input", () => this.render());
  }

  async load() {
    if (this.settings) return;
    try {
      this.settings = (await api("/api/config")).settings;
      this.render();
    } catch (error) {
      toast(`Configuration not loaded: ${error.message}`);
    }
  }

  render() {
    const needle = $("#config-filter").value.trim().toLowerCase();
    const sections = [];
    for (const entry of this.settings || []) {
      const values = Object.entries(entry.values || {}).filter(([name, value]) =>
        !needle || name.toLowerCase().includes(needle) || String(value).toLowerCase().includes(needle)
        || entry.name.toLowerCase().includes(needle));
      if (!values.length && !entry.error) continue;
      const rows = values.map(([name, value]) => h("tr", { title: entry.descriptions?.[name] || "" },
        h("td", {}, name),
        h("td", {}, Array.isArray(value) ? value.join(", ") : value === null ? "—" : String(value))));
      sections.push(h("section", {},
        h("h3", {}, entry.name, h("small", {}, entry.module)),
        entry.error ? h("p", { class: "error" }, entry.error) : h("table", {}, h("tbody", {}, rows))));
    }
    $("#config").replaceChildren(...sections);
  }
}
