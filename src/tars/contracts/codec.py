"""The only way on and off the wire: ``encode`` and ``decode`` through pydantic-core JSON.

Two wire modes (:data:`~tars.contracts.v1.WireMode`) share one decoder. In the default
``tars`` wire every field is in the JSON. In the ``v1`` wire the JSON on a py-tars topic
holds exactly the py-tars v1 fields, and the TARS additions (satellite, timings, ...)
travel beside it in the MQTT v5 user property ``tars-ext``, which py-tars clients never
see. ``decode`` merges that property back, so TARS services get the same model in both
modes, and a py-tars message (no property) simply has no additions.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json

from tars.contracts.envelope import Envelope
from tars.contracts.limits import excerpt
from tars.contracts.registry import TopicSpec, lookup
from tars.contracts.v1 import EXTENSION_PROPERTY, WireMode, additions


class ContractError(ValueError):
    """A payload does not satisfy the contract of its topic.

    Attributes:
        topic: The topic the payload arrived on.
        reason: Stable reason code: unknown_topic, binary_topic, too_large (more bytes
            than the topic's ``max_bytes``, refused before parsing), invalid_json,
            too_long (a text past its bound) or invalid_payload.
    """

    def __init__(self, topic: str, reason: str, detail: str) -> None:
        super().__init__(f"{topic}: {reason}: {detail}")
        self.topic = topic
        self.reason = reason
        self.detail = detail


@functools.cache
def _envelope_adapter(model: Any) -> TypeAdapter[Envelope[Any]]:
    return TypeAdapter(Envelope[model])


@functools.cache
def _bare_adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _model_types(model: Any) -> tuple[type, ...]:
    members = typing.get_args(model)
    return tuple(members) if members else (model,)


def spec_for(topic: str) -> TopicSpec:
    """The spec of a JSON topic.

    Raises:
        ContractError: the topic is unknown or carries binary audio.
    """
    spec = lookup(topic)
    if spec is None:
        raise ContractError(topic, "unknown_topic", "no contract for this topic")
    if spec.binary:
        raise ContractError(topic, "binary_topic", "this topic carries raw audio, not JSON")
    return spec


class Encoded(NamedTuple):
    """One message ready for the transport."""

    payload: bytes
    """The enveloped JSON."""
    properties: dict[str, str]
    """MQTT v5 user properties to send with it (empty unless the v1 wire moved additions)."""


def encode(
    topic: str,
    data: Any,
    *,
    id: str | None = None,
    source: str = "tars",
    event_type: str | None = None,
) -> bytes:
    """Wrap ``data`` in an envelope and serialise it for ``topic`` (the default wire).

    Args:
        topic: Destination topic; decides which model ``data`` must be.
        data: The payload model instance.
        id: Correlation id; a fresh one when None.
        source: Publishing service name.
        event_type: Envelope type; the topic's default when None.

    Raises:
        ContractError: ``data`` is not the model of ``topic``.
    """
    return encode_message(topic, data, id=id, source=source, event_type=event_type).payload


def encode_message(
    topic: str,
    data: Any,
    *,
    wire: WireMode = "tars",
    id: str | None = None,
    source: str = "tars",
    event_type: str | None = None,
) -> Encoded:
    """Serialise ``data`` for ``topic`` in the given wire mode.

    In the ``v1`` wire, on a py-tars topic, the JSON holds only the py-tars v1 fields
    and the TARS additions that are set go in the ``tars-ext`` user property.

    Args:
        topic: Destination topic; decides which model ``data`` must be.
        data: The payload model instance.
        wire: ``tars`` (everything in the JSON) or ``v1`` (py-tars v1 JSON).
        id: Correlation id; a fresh one when None.
        source: Publishing service name.
        event_type: Envelope type; the topic's default when None.

    Raises:
        ContractError: ``data`` is not the model of ``topic``.
    """
    spec = spec_for(topic)
    if not isinstance(data, _model_types(spec.model)):
        raise ContractError(topic, "invalid_payload", f"expected {spec.model}, got {type(data)}")
    fields: dict[str, Any] = {"type": event_type or spec.event_type, "source": source, "data": data}
    if id is not None:
        fields["id"] = id
    envelope = Envelope[Any](**fields)
    model = typing.cast(BaseModel, data)
    moved = additions(type(model)) if wire == "v1" and spec.v1 else frozenset()
    # None-valued optional fields are left out so py-tars consumers (which forbid
    # unknown fields) still accept messages that do not use our additions.
    payload = envelope.model_dump_json(exclude_none=True, exclude={"data": set(moved)})
    properties: dict[str, str] = {}
    if moved:
        extension = model.model_dump_json(include=set(moved), exclude_none=True)
        if extension != "{}":
            properties[EXTENSION_PROPERTY] = extension
    return Encoded(payload.encode(), properties)


def decode(
    topic: str,
    payload: bytes | bytearray | str,
    properties: Mapping[str, str] | None = None,
) -> Envelope[Any]:
    """Parse and validate a JSON payload received on ``topic``.

    Enveloped payloads are validated in one pass; on topics where py-tars clients
    publish bare JSON, a bare model is accepted and given a fresh envelope. TARS
    additions sent beside the JSON (``tars-ext``, the v1 wire) are merged back first.

    Args:
        topic: The topic the payload arrived on.
        payload: The JSON bytes.
        properties: The message's MQTT v5 user properties, if any.

    Returns:
        The envelope; ``envelope.data`` is the validated payload model.

    Raises:
        ContractError: unknown topic, a payload larger than the topic allows, malformed
            JSON, or a payload that does not match the topic's model.
    """
    spec = spec_for(topic)
    if len(payload) > spec.max_bytes:
        # Checked before parsing, so a huge payload costs a length check, not a parse.
        detail = f"{len(payload)} bytes > {spec.max_bytes}; starts {excerpt(payload)}"
        raise ContractError(topic, "too_large", detail)
    extension = properties.get(EXTENSION_PROPERTY) if properties else None
    if extension is None:
        return _validate(topic, spec, lambda adapter: adapter.validate_json(payload))
    merged = _merge_extension(topic, payload, extension)
    return _validate(topic, spec, lambda adapter: adapter.validate_python(merged))


def _validate(
    topic: str, spec: TopicSpec, validate: Callable[[TypeAdapter[Any]], Any]
) -> Envelope[Any]:
    try:
        return typing.cast(Envelope[Any], validate(_envelope_adapter(spec.model)))
    except ValidationError as envelope_error:
        failure = envelope_error
    if spec.bare_ok:
        try:
            data = validate(_bare_adapter(spec.model))
        except ValidationError:
            pass
        else:
            return Envelope[Any](type=spec.event_type, source="bare", data=data)
    raise ContractError(topic, _reason(failure), _summary(failure)) from failure


def _merge_extension(topic: str, payload: bytes | bytearray | str, extension: str) -> Any:
    """The parsed message with the ``tars-ext`` additions put back into its payload."""
    try:
        message = from_json(payload)
        extra = from_json(extension)
    except ValueError as err:
        raise ContractError(topic, "invalid_json", str(err)) from err
    if not isinstance(message, dict) or not isinstance(extra, dict):
        raise ContractError(topic, "invalid_payload", "message and tars-ext must be JSON objects")
    data = message.get("data")
    target = data if isinstance(data, dict) else message  # bare JSON on bare_ok topics
    repeated = sorted(target.keys() & extra.keys())
    if repeated:
        # A field in both places is ambiguous; refuse rather than pick one silently.
        raise ContractError(topic, "invalid_payload", f"tars-ext repeats {', '.join(repeated)}")
    target.update(extra)
    return message


def _reason(error: ValidationError) -> str:
    kind = error.errors()[0]["type"]
    if kind == "json_invalid":
        return "invalid_json"
    return "too_long" if kind in ("string_too_long", "too_long") else "invalid_payload"


def _summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(piece) for piece in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)
