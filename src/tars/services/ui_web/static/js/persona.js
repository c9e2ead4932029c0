// The persona: name, description and a slider per trait. Moving a slider asks the memory
// service to change the trait; the value turns final when the retained character confirms it.
import { $, h, api, toast } from "./dom.js";

export class PersonaView {
  constructor() {
    this.character = null;
    this.pending = new Map();
    $("#traits-reset").addEventListener("click", () => this.reset());
    this.render();
  }

  set(character) {
    this.character = character;
    for (const [trait, value] of this.pending) {
      if (character && character.traits[trait] === value) this.pending.delete(trait);
    }
    this.render();
  }

  render() {
    const character = this.character;
    $("#persona-empty").hidden = Boolean(character);
    $("#traits-reset").disabled = !character;
    $("#persona-name").textContent = character ? `Persona · ${character.name}` : "Persona";
    $("#persona-description").textContent = character?.description || "";
    const traits = character ? Object.entries(character.traits).sort(([a], [b]) => a.localeCompare(b)) : [];
    $("#traits").replaceChildren(...traits.map(([trait, value]) => this.slider(trait, value)));
  }

  slider(trait, value) {
    const shown = this.pending.get(trait) ?? value;
    const output = h("output", {}, String(shown));
    const input = h("input", {
      type: "range", min: "0", max: "100", step: "1", value: String(shown),
      "aria-label": trait, dataset: { trait },
    });
    input.addEventListener("input", () => { output.textContent = input.value; });
    input.addEventListener("change", () => this.change(trait, Number(input.value)));
    const id = `trait-${trait.replace(/[^a-z0-9]/gi, "_")}`;
    input.id = id;
    return h("div", { class: `trait ${this.pending.has(trait) ? "pending" : ""}`, dataset: { trait } },
      h("label", { for: id }, trait.replace(/_/g, " ")), output, input);
  }

  async change(trait, value) {
    this.pending.set(trait, value);
    this.render();
    try {
      await api("/api/character/traits", { body: { trait, value } });
    } catch (error) {
      this.pending.delete(trait);
      this.render();
      toast(`Trait not changed: ${error.message}`);
    }
  }

  async reset() {
    try {
      await api("/api/character/reset", { method: "POST" });
    } catch (error) {
      toast(`Traits not reset: ${error.message}`);
    }
  }
}
