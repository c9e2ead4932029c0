"""The v1 wire: what TARS publishes on py-tars topics, checked against py-tars's own shapes.

The py-tars models and golden payloads (tests/support/py_tars) are written from the
py-tars review, not from TARS's contracts, so these tests compare two independent
descriptions of the same wire.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from tests.support import py_tars
from tests.support.py_tars import GOLDEN, MODELS, validate_v1

from tars.contracts import registry, stt, tts
from tars.contracts.codec import ContractError, decode, encode_message
from tars.contracts.v1 import EXTENSION_PROPERTY, V1_FIELDS, additions

V1_SPECS = [spec for spec in registry.TOPICS if spec.v1]

# One example value per TARS addition (by field name); a new addition needs one here.
ADDITION_EXAMPLES: dict[str, Any] = {
    "satellite": "kitchen",
    "wake_word": "okay_nabu",
    "speech_start_ts": 1700000000.1,
    "speech_end_ts": 1700000001.2,
    "transcribe_ms": 85.0,
    "source": "voice",
    "heard_in": "wake",
    "continues": "utt-0",
    "turn_complete": 0.92,
    "turn": "open",
    "preemptive": True,
    "last": True,
    "sample_rate": 22050,
    "tools": True,
    "error_code": "timeout",
    "reason": "barge_in",
    "request_id": "rt-1",
    "content": "done",
    "error": "no such section",
    "speed": 0.5,
}


def _topic(spec: registry.TopicSpec) -> str:
    return spec.pattern.replace("+", "local")


def _members(model: Any) -> tuple[type[BaseModel], ...]:
    return typing.get_args(model) or (model,)


def _with_every_addition(topic: str, pattern: str) -> BaseModel:
    """The golden py-tars message as TARS decodes it, with every TARS addition set."""
    data = decode(topic, GOLDEN[pattern]).data
    extra = {name: ADDITION_EXAMPLES[name] for name in additions(type(data))}
    return typing.cast(BaseModel, type(data).model_validate({**data.model_dump(), **extra}))


def test_the_registry_marks_exactly_the_py_tars_topics_tars_publishes() -> None:
    assert {spec.pattern for spec in V1_SPECS} == set(MODELS) == set(GOLDEN)


@pytest.mark.parametrize("pattern", sorted(GOLDEN))
def test_golden_payloads_satisfy_the_py_tars_models(pattern: str) -> None:
    validate_v1(pattern.replace("+", "stt"), GOLDEN[pattern])


@pytest.mark.parametrize("spec", V1_SPECS, ids=lambda spec: spec.pattern)
def test_our_v1_field_sets_match_the_py_tars_models(spec: registry.TopicSpec) -> None:
    theirs = {model.__name__: model for model in _members(MODELS[spec.pattern])}
    for ours in _members(spec.model):
        assert V1_FIELDS[ours] == set(theirs[ours.__name__].model_fields), ours.__name__
        assert V1_FIELDS[ours] <= set(ours.model_fields), ours.__name__


def _nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    pending = [field.annotation for field in model.model_fields.values()]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.add(annotation)
        pending.extend(typing.get_args(annotation))
    return found


@pytest.mark.parametrize("spec", V1_SPECS, ids=lambda spec: spec.pattern)
def test_nested_models_on_py_tars_topics_have_no_additions(spec: registry.TopicSpec) -> None:
    # The v1 wire lifts additions out of the top level only; nested ones could not go.
    for model in _members(spec.model):
        for nested in _nested_models(model):
            assert set(nested.model_fields) == V1_FIELDS[nested], nested.__name__


@pytest.mark.parametrize("spec", V1_SPECS, ids=lambda spec: spec.pattern)
def test_py_tars_messages_are_accepted_with_the_local_satellite_implied(
    spec: registry.TopicSpec,
) -> None:
    data = decode(_topic(spec), GOLDEN[spec.pattern]).data
    assert getattr(data, "satellite", None) is None
    for name in additions(type(data)):  # every addition has a default py-tars messages get
        default = type(data).model_fields[name].get_default(call_default_factory=True)
        assert getattr(data, name) == default, name


@pytest.mark.parametrize("spec", V1_SPECS, ids=lambda spec: spec.pattern)
def test_v1_wire_publishes_exactly_the_py_tars_payload(spec: registry.TopicSpec) -> None:
    topic = _topic(spec)
    full = _with_every_addition(topic, spec.pattern)
    encoded = encode_message(topic, full, wire="v1", id="corr-1", source="stt")
    validate_v1(topic, encoded.payload)
    moved = additions(type(full))
    if moved:
        assert set(json.loads(encoded.properties[EXTENSION_PROPERTY])) == moved
    else:
        assert encoded.properties == {}
    again = decode(topic, encoded.payload, encoded.properties)
    assert again.data == full
    assert again.id == "corr-1"


@pytest.mark.parametrize(
    "spec",
    [spec for spec in V1_SPECS if additions(_members(spec.model)[0])],
    ids=lambda spec: spec.pattern,
)
def test_the_default_wire_carries_additions_py_tars_rejects(spec: registry.TopicSpec) -> None:
    topic = _topic(spec)
    full = _with_every_addition(topic, spec.pattern)
    encoded = encode_message(topic, full, wire="tars")
    assert encoded.properties == {}
    assert decode(topic, encoded.payload).data == full
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        validate_v1(topic, encoded.payload)


def test_v1_wire_leaves_unset_additions_out_entirely() -> None:
    encoded = encode_message(tts.TOPIC_TTS_SAY, tts.TtsSay(text="hi"), wire="v1")
    assert encoded.properties == {}
    assert set(json.loads(encoded.payload)["data"]) == {"message_id", "text"}


def test_v1_wire_does_not_touch_tars_only_topics() -> None:
    rejected = stt.RejectedTranscript(
        text="uh", filter="empty", reason="no words", heard_in="wake", satellite="kitchen"
    )
    encoded = encode_message(stt.TOPIC_STT_REJECTED, rejected, wire="v1")
    assert encoded.properties == {}
    assert json.loads(encoded.payload)["data"]["satellite"] == "kitchen"


def test_an_extension_repeating_a_payload_field_is_rejected() -> None:
    encoded = encode_message(stt.TOPIC_STT_FINAL, stt.FinalTranscript(text="hi"), wire="v1")
    with pytest.raises(ContractError, match="repeats text") as caught:
        decode(stt.TOPIC_STT_FINAL, encoded.payload, {EXTENSION_PROPERTY: '{"text": "bye"}'})
    assert caught.value.reason == "invalid_payload"


@pytest.mark.parametrize(
    ("extension", "reason"),
    [("{not json", "invalid_json"), ("[1]", "invalid_payload"), ('{"loud": 1}', "invalid_payload")],
)
def test_a_bad_extension_is_rejected(extension: str, reason: str) -> None:
    encoded = encode_message(stt.TOPIC_STT_FINAL, stt.FinalTranscript(text="hi"), wire="v1")
    with pytest.raises(ContractError) as caught:
        decode(stt.TOPIC_STT_FINAL, encoded.payload, {EXTENSION_PROPERTY: extension})
    assert caught.value.reason == reason


def test_additions_also_reach_bare_payloads() -> None:
    envelope = decode(
        tts.TOPIC_TTS_SAY, b'{"text": "from a script"}', {EXTENSION_PROPERTY: '{"last": true}'}
    )
    assert envelope.source == "bare"
    assert envelope.data.last is True


def test_the_py_tars_description_does_not_come_from_tars() -> None:
    for source in Path(py_tars.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert "from tars" not in text, source.name
        assert "import tars" not in text, source.name
