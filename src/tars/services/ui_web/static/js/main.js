// Start-up: one WebSocket, the views it feeds, the tabs and the satellite controls.
import { $, toast } from "./dom.js";
import { Link } from "./socket.js";
import { ConversationView } from "./conversation.js";
import { HealthView } from "./health.js";
import { LevelsView } from "./levels.js";
import { LatencyView } from "./latency.js";
import { EventsView } from "./events.js";
import { PersonaView } from "./persona.js";
import { MemoryView } from "./memory.js";
import { ConfigView } from "./config.js";
import { BrowserSatellite } from "./satellite.js";

const SATELLITE = /^[a-z0-9_-]{1,32}$/;
const THIS_BROWSER = "this browser";

const app = {
  clockOffset: 0,
  now() {
    return Date.now() / 1000 + this.clockOffset;
  },
  satellite() {
    const value = $("#satellite").value.trim();
    return SATELLITE.test(value) ? value : "browser";
  },
};

const conversation = new ConversationView(app);
const health = new HealthView(app);
const levels = new LevelsView();
const latency = new LatencyView();
const events = new EventsView();
const persona = new PersonaView();
new MemoryView();
const config = new ConfigView();

const handlers = {
  hello(message) {
    app.clockOffset = message.now - Date.now() / 1000;
    if (!localStorage.getItem("tars.satellite")) $("#satellite").value = message.satellite;
    conversation.reset(message.conversation, message.states);
    health.reset(message.health, message.heartbeat_s);
    latency.reset(message.turns);
    events.reset(message.events);
    persona.set(message.character);
    document.body.dataset.ready = "true";
  },
  event(message) {
    events.add(message);
    satellite.onBusEvent(message);
  },
  line: (message) => conversation.upsert(message.line),
  health: (message) => health.update(message.row),
  character: (message) => persona.set(message.character),
  turn: (message) => latency.add(message.turn),
  state: (message) => conversation.setState(message.state),
  level: (message) => levels.set(message.satellite, message.db),
  error: (message) => toast(message.message),
  ack() {},
};

const link = new Link({
  onMessage: (message) => handlers[message.kind]?.(message),
  onBinary: (buffer) => satellite.play(buffer),
  onState(open) {
    const pill = $("#link");
    pill.textContent = open ? "live" : "offline";
    pill.className = `pill ${open ? "pill-on" : "pill-off"}`;
  },
});

const satellite = new BrowserSatellite(link, {
  onLevel: (db) => levels.set(THIS_BROWSER, db),
  onChange() {
    const mic = $("#mic");
    mic.classList.toggle("live", satellite.micOn);
    mic.querySelector(".label").textContent = satellite.micOn ? "Stop talking" : "Talk from this browser";
    const speaker = $("#speaker");
    speaker.classList.toggle("on", satellite.speakerOn);
    speaker.classList.toggle("playing", satellite.stats.playing);
    speaker.querySelector(".label").textContent = satellite.speakerOn ? "Replies on" : "Replies off";
  },
});
link.onOpenHooks.push(() => satellite.resend());

$("#mic").addEventListener("click", async () => {
  try {
    if (satellite.micOn) satellite.stopMic();
    else await satellite.startMic(app.satellite());
  } catch (error) {
    toast(`Microphone unavailable: ${error.message}`);
  }
});
$("#speaker").addEventListener("click", () => satellite.setSpeaker(!satellite.speakerOn, app.satellite()));

const saved = localStorage.getItem("tars.satellite");
if (saved && SATELLITE.test(saved)) $("#satellite").value = saved;
$("#satellite").addEventListener("change", (event) => {
  const value = event.target.value.trim();
  if (!SATELLITE.test(value)) {
    toast("A satellite id is 1-32 of a-z, 0-9, _ and -");
    event.target.value = app.satellite();
    return;
  }
  localStorage.setItem("tars.satellite", value);
  if (satellite.micOn) {
    satellite.stopMic();
    satellite.startMic(value).catch((error) => toast(`Microphone unavailable: ${error.message}`));
  } else if (satellite.speakerOn) {
    satellite.setSpeaker(true, value);
  }
  conversation.renderPhase();
});

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const view of document.querySelectorAll(".view")) {
      view.classList.toggle("active", view.id === `view-${tab.dataset.view}`);
    }
    if (tab.dataset.view === "config") config.load();
  });
}

link.connect();
