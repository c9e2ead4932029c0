"""The hub: snapshot for new pages, fan-out with bounded outboxes, levels and reply audio."""

from __future__ import annotations

import json
import struct

from tars.contracts import character, conversation, health, stt
from tars.runtime.metrics import Metrics
from tars.services.ui_web.hub import Hub, HubLimits, pcm_level_db


def drain(outbox) -> list[object]:
    items = []
    while not outbox.queue.empty():
        item = outbox.queue.get_nowait()
        items.append(json.loads(item) if isinstance(item, str) else item)
    return items


def test_messages_update_the_state_and_reach_every_page() -> None:
    hub = Hub(HubLimits(event_history=2), Metrics("ui-web"))
    page = hub.connect()
    assert page is not None
    hub.on_message(
        "system/health/stt", health.HealthPing(ok=True, event="ready"), ts=1.0, source="stt"
    )
    snapshot = character.CharacterSnapshot(name="TARS", traits={"humor": 75})
    hub.on_message(character.TOPIC_CHARACTER_CURRENT, snapshot, ts=2.0, source="memory")
    final = stt.FinalTranscript(text="hello", utt_id="u", satellite="den")
    hub.on_message(stt.TOPIC_STT_FINAL, final, ts=3.0, source="stt")
    turn = conversation.ConversationTurn(id="u", satellite="den", user_text="hello", reply="Hi")
    hub.on_message(conversation.TOPIC_CONVERSATION_TURN, turn, ts=4.0, source="router")
    kinds = [item["kind"] for item in drain(page)]  # type: ignore[index]
    assert kinds == [
        "event",
        "health",
        "event",
        "character",
        "event",
        "line",
        "event",
        "line",
        "turn",
    ]
    hello = hub.snapshot("browser")
    assert [row["service"] for row in hello["health"]] == ["stt"]
    assert hello["character"]["traits"] == {"humor": 75}
    assert [line["id"] for line in hello["conversation"]] == ["u:u", "a:u"]
    assert len(hello["events"]) == 2  # history bounded
    assert hello["turns"][0]["reply"] == "Hi"


def test_big_payloads_are_cut_in_the_event_stream() -> None:
    hub = Hub(HubLimits(event_max_bytes=300), Metrics("ui-web"))
    final = stt.FinalTranscript(text="x" * 1000)
    hub.on_message(stt.TOPIC_STT_FINAL, final, ts=1.0, source="stt")
    data = hub.events[-1]["data"]
    assert set(data) == {"_truncated", "_bytes"}
    assert len(data["_truncated"]) <= 301


def test_a_slow_page_loses_its_oldest_messages_and_pages_are_capped() -> None:
    metrics = Metrics("ui-web")
    hub = Hub(HubLimits(client_queue=10, max_clients=1), metrics)
    page = hub.connect()
    assert page is not None
    assert hub.connect() is None
    for index in range(15):
        hub.on_message(
            stt.TOPIC_STT_PARTIAL, stt.PartialTranscript(text=str(index)), ts=1.0, source="stt"
        )
    assert page.queue.qsize() == 10
    assert page.dropped > 0
    assert metrics.count("client_messages_dropped") == page.dropped
    assert metrics.count("clients_refused") == 1
    hub.disconnect(page)
    assert hub.clients == 0


def test_levels_and_reply_audio() -> None:
    hub = Hub(HubLimits(), Metrics("ui-web"))
    page, other = hub.connect(), hub.connect()
    assert page is not None
    assert other is not None
    page.speaker = "den"
    loud = struct.pack("<320h", *([16384, -16384] * 160))
    hub.on_pcm("den", loud)
    hub.on_pcm("den", loud)  # within 100 ms of the first: folded into the next report
    (level,) = drain(other)
    assert level == {"kind": "level", "satellite": "den", "db": -6.0}
    drain(page)
    hub.on_reply_audio("den", b"\x01\x00" * 4, 22050)
    hub.on_reply_audio("hall", b"\x01\x00" * 4, 22050)
    (audio,) = drain(page)
    assert isinstance(audio, bytes)
    assert struct.unpack("<I", audio[:4])[0] == 22050
    assert drain(other) == []
    assert pcm_level_db(b"") == -100.0
    assert pcm_level_db(b"\x00\x00" * 10) == -100.0
