"""Contract tests through bytes: golden py-tars payloads, round trips and rejections."""

from __future__ import annotations

import json
import typing

import pytest
from pydantic import BaseModel

from tars.contracts import llm, registry, stt, tts, wake
from tars.contracts.codec import ContractError, decode, encode

# Payloads as py-tars v1 publishers put them on the wire (envelope + data).
GOLDEN: dict[str, bytes] = {
    "stt/final": b'{"id":"a1","type":"stt.final","ts":1700000000.5,"source":"stt",'
    b'"data":{"message_id":"m1","text":"what time is it","lang":"en","confidence":0.93,'
    b'"ts":1700000000.4,"is_final":true}}',
    "tts/say": b'{"id":"a2","type":"tts.say","ts":1700000001.0,"source":"router",'
    b'"data":{"message_id":"m2","text":"It is 3:15 PM.","utt_id":"rt-1a2b3c4d"}}',
    "llm/request": b'{"id":"a3","type":"llm.request","ts":1700000002.0,"source":"router",'
    b'"data":{"message_id":"m3","id":"rt-1","text":"tell me a joke","stream":true,'
    b'"conversation_history":[{"role":"user","content":"hi"},'
    b'{"role":"assistant","content":"Hello."}]}}',
    "llm/stream": b'{"id":"a3","type":"llm.stream","ts":1700000002.1,"source":"llm",'
    b'"data":{"message_id":"m4","id":"rt-1","seq":1,"delta":"Why","done":false}}',
    "wake/event": b'{"id":"a5","type":"wake.event","ts":1700000003.0,"source":"wake",'
    b'"data":{"message_id":"m5","type":"wake","confidence":0.81,"energy":512.0,'
    b'"cause":"wake_phrase","ts":12.5}}',
    "system/health/stt": b'{"id":"a6","type":"health.status","ts":1700000004.0,"source":"stt",'
    b'"data":{"message_id":"m6","ok":true,"event":"ready","timestamp":1700000004.0}}',
    "character/update": b'{"id":"a7","type":"character.update","ts":1700000005.0,'
    b'"source":"llm","data":{"message_id":"m7","section":"traits","trait":"humor","value":75}}',
}


@pytest.mark.parametrize("topic", sorted(GOLDEN))
def test_golden_payload_decodes_and_round_trips(topic: str) -> None:
    envelope = decode(topic, GOLDEN[topic])
    original = json.loads(GOLDEN[topic])
    assert envelope.id == original["id"]
    assert envelope.type == original["type"]
    assert envelope.data.model_dump(exclude_none=True) == original["data"]
    again = decode(topic, encode(topic, envelope.data, id=envelope.id, source="test"))
    assert again.data == envelope.data
    assert again.id == envelope.id


def test_encoding_leaves_out_unset_optional_fields() -> None:
    wire = json.loads(encode(tts.TOPIC_TTS_SAY, tts.TtsSay(text="hi"), source="router"))
    assert set(wire) == {"id", "type", "ts", "source", "data"}
    assert set(wire["data"]) == {"message_id", "text"}
    assert wire["type"] == "tts.say"
    assert wire["source"] == "router"


def _example(model: typing.Any) -> BaseModel:
    """A minimal valid instance of a payload model, built from its required fields."""
    members = typing.get_args(model) or (model,)
    cls = members[0]
    values: dict[str, typing.Any] = {}
    for name, field in cls.model_fields.items():
        if not field.is_required():
            continue
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        if annotation is str:
            values[name] = "x"
        elif annotation is bool:
            values[name] = True
        elif annotation in (int, float):
            values[name] = 1
        elif origin is typing.Literal:
            values[name] = typing.get_args(annotation)[0]
        elif origin is list:
            values[name] = []
        elif origin is dict:
            values[name] = {}
        else:
            values[name] = None
    return typing.cast(BaseModel, cls(**values))


JSON_SPECS = [spec for spec in registry.TOPICS if not spec.binary]


@pytest.mark.parametrize("spec", JSON_SPECS, ids=lambda spec: spec.pattern)
def test_every_registered_model_round_trips_through_bytes(spec: registry.TopicSpec) -> None:
    topic = spec.pattern.replace("+", "local")
    example = _example(spec.model)
    envelope = decode(topic, encode(topic, example, source="test"))
    assert envelope.data == example
    assert envelope.type == spec.event_type


def test_unknown_field_is_rejected() -> None:
    payload = b'{"id":"a","type":"tts.say","ts":1,"source":"x","data":{"text":"hi","loud":true}}'
    with pytest.raises(ContractError) as caught:
        decode(tts.TOPIC_TTS_SAY, payload)
    assert caught.value.reason == "invalid_payload"
    assert "loud" in str(caught.value)


def test_wrong_type_is_rejected() -> None:
    payload = b'{"id":"a","type":"stt.final","ts":1,"source":"x","data":{"text":42}}'
    with pytest.raises(ContractError) as caught:
        decode(stt.TOPIC_STT_FINAL, payload)
    assert caught.value.reason == "invalid_payload"


def test_malformed_json_is_rejected() -> None:
    with pytest.raises(ContractError) as caught:
        decode(stt.TOPIC_STT_FINAL, b'{"id": "a", "type": ')
    assert caught.value.reason == "invalid_json"


def test_payload_for_another_topic_is_rejected() -> None:
    request = encode(llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="r1", text="hello"))
    with pytest.raises(ContractError):
        decode(tts.TOPIC_TTS_SAY, request)


def test_encoding_the_wrong_model_for_a_topic_is_refused() -> None:
    with pytest.raises(ContractError):
        encode(tts.TOPIC_TTS_SAY, stt.FinalTranscript(text="hi"))


def test_unknown_and_binary_topics_are_not_json() -> None:
    with pytest.raises(ContractError) as unknown:
        decode("no/such/topic", b"{}")
    assert unknown.value.reason == "unknown_topic"
    with pytest.raises(ContractError) as binary:
        decode("audio/kitchen/pcm", b"\x00\x01")
    assert binary.value.reason == "binary_topic"


@pytest.mark.parametrize(
    ("topic", "bare"),
    [
        ("tts/say", b'{"text":"hello from a script"}'),
        ("tts/control", b'{"action":"pause","reason":"wake_interrupt","id":"rt-1"}'),
        ("movement/status", b'{"event":"command_completed","command":"wave"}'),
        ("movement/test", b'{"command":"wave","speed":0.5}'),
        ("system/health/movement-esp32", b'{"ok":true,"event":"heartbeat"}'),
    ],
)
def test_bare_py_tars_payloads_are_accepted_where_py_tars_sends_them(
    topic: str, bare: bytes
) -> None:
    envelope = decode(topic, bare)
    assert envelope.source == "bare"
    sent = json.loads(bare)
    dumped = envelope.data.model_dump()
    assert {key: dumped[key] for key in sent} == sent


def test_bare_payloads_are_rejected_on_enveloped_topics() -> None:
    with pytest.raises(ContractError):
        decode(llm.TOPIC_LLM_REQUEST, b'{"id":"r1","text":"hello"}')


def test_satellite_ids_are_validated() -> None:
    assert decode(
        wake.TOPIC_WAKE_EVENT,
        encode(wake.TOPIC_WAKE_EVENT, wake.WakeEvent(type="wake", satellite="kitchen-2")),
    ).data.satellite == ("kitchen-2")
    with pytest.raises(ContractError):
        decode(
            wake.TOPIC_WAKE_EVENT,
            b'{"id":"a","type":"wake.event","ts":1,"source":"x",'
            b'"data":{"type":"wake","satellite":"Kitchen Room"}}',
        )


def test_character_update_union_picks_the_right_model() -> None:
    payload = (
        b'{"id":"a","type":"character.update","ts":1,"source":"x","data":{"action":"reset_traits"}}'
    )
    assert decode("character/update", payload).data.action == "reset_traits"
    empty = b'{"id":"a","type":"character.update","ts":1,"source":"x","data":{}}'
    with pytest.raises(ContractError):
        decode("character/update", empty)
