"""The only way on and off the wire: ``encode`` and ``decode`` through pydantic-core JSON."""

from __future__ import annotations

import functools
import typing
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tars.contracts.envelope import Envelope
from tars.contracts.registry import TopicSpec, lookup


class ContractError(ValueError):
    """A payload does not satisfy the contract of its topic.

    Attributes:
        topic: The topic the payload arrived on.
        reason: Stable reason code: unknown_topic, binary_topic, invalid_json or
            invalid_payload.
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


def encode(
    topic: str,
    data: Any,
    *,
    id: str | None = None,
    source: str = "tars",
    event_type: str | None = None,
) -> bytes:
    """Wrap ``data`` in an envelope and serialise it for ``topic``.

    Args:
        topic: Destination topic; decides which model ``data`` must be.
        data: The payload model instance.
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
    # None-valued optional fields are left out so py-tars consumers (which forbid
    # unknown fields) still accept messages that do not use our additions.
    return envelope.model_dump_json(exclude_none=True).encode()


def decode(topic: str, payload: bytes | bytearray | str) -> Envelope[Any]:
    """Parse and validate a JSON payload received on ``topic``.

    Enveloped payloads are validated in one pass; on topics where py-tars clients
    publish bare JSON, a bare model is accepted and given a fresh envelope.

    Returns:
        The envelope; ``envelope.data`` is the validated payload model.

    Raises:
        ContractError: unknown topic, malformed JSON, or a payload that does not
            match the topic's model.
    """
    spec = spec_for(topic)
    try:
        return _envelope_adapter(spec.model).validate_json(payload)
    except ValidationError as envelope_error:
        failure = envelope_error
    if spec.bare_ok:
        try:
            data = _bare_adapter(spec.model).validate_json(payload)
        except ValidationError:
            pass
        else:
            return Envelope[Any](type=spec.event_type, source="bare", data=data)
    raise ContractError(topic, _reason(failure), _summary(failure)) from failure


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    return "invalid_json" if first["type"] == "json_invalid" else "invalid_payload"


def _summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(piece) for piece in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)
