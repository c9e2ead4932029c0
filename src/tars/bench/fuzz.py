"""Fuzzed payloads for every topic of the contract, and a sender that publishes them.

Kinds (seeded, so a run can be repeated): random bytes, truncated JSON, wrong types (in the
envelope and in the payload's own fields), huge strings (just under and just over the
topic's byte bound), deep nesting, JSON oddities (NaN, 1e999, lone surrogates, bare
scalars), and a junk ``tars-ext`` user property. Binary audio topics get random frames of
every length (odd ones too, empty ones and over-long ones) with junk ``seq``/``ts``
properties.
"""

from __future__ import annotations

import asyncio
import json
import random
import typing
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from tars.contracts.registry import OWN, TOPICS, TopicSpec
from tars.runtime.mqtt_bus import MqttBus

_HUGE_CAP = 300 * 1024
"""Largest fuzzed payload: topics that allow megabytes (images) get this much, not 16 MiB."""
_OWN_TOPICS = {"system/health/+": ("tts", "esp32"), "system/metrics/+": ("tts",)}
"""Concrete instances fuzzed for each-service-its-own topics, published as that user."""
_IN_FLIGHT = 256
"""Publishes awaited together (QoS 1 acknowledgements overlap; memory stays bounded)."""
KINDS = (
    "random_bytes", "truncated_json", "wrong_types", "huge_string", "deep_nesting",
    "json_oddity", "bad_extension",
)  # fmt: skip
"""The kinds of fuzzed JSON payloads."""


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """One concrete topic to fuzz and the broker user allowed to publish it."""

    topic: str
    user: str
    spec: TopicSpec


@dataclass(frozen=True, slots=True)
class Fuzzed:
    """One fuzzed message."""

    kind: str
    payload: bytes
    properties: Mapping[str, str] = field(default_factory=dict)


def targets() -> list[FuzzTarget]:
    """Every topic of the registry (every topic some service subscribes), made concrete."""
    found = []
    for spec in TOPICS:
        if spec.publishers == (OWN,):
            for user in _OWN_TOPICS.get(spec.pattern, ()):
                found.append(FuzzTarget(spec.pattern.replace("+", user), user, spec))
            continue
        found.append(FuzzTarget(spec.pattern.replace("+", "fuzz"), spec.publishers[0], spec))
    return found


def _fields(model: Any) -> list[str]:
    """Field names of a payload model (of every member, for a union)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    names: list[str] = []
    for member in typing.get_args(model):
        names += [name for name in _fields(member) if name not in names]
    return names


def _wrong_value(rng: random.Random) -> Any:
    return rng.choice([None, -1, 2**70, 1.5, True, "", "x" * 40, [], [1, "a"], {}, {"k": [None]}])


def _envelope(spec: TopicSpec, data: Any, rng: random.Random) -> dict[str, Any]:
    return {
        "id": rng.choice(["fuzz", f"f{rng.getrandbits(32):08x}"]),
        "type": spec.event_type,
        "ts": 1.0,
        "source": "fuzz",
        "data": data,
    }


def _plausible(spec: TopicSpec, rng: random.Random) -> dict[str, Any]:
    return {name: _wrong_value(rng) for name in _fields(spec.model)}


def _nested(depth: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _json_payload(kind: str, spec: TopicSpec, rng: random.Random) -> Fuzzed:
    if kind == "random_bytes":
        return Fuzzed(kind, rng.randbytes(rng.randint(0, 512)))
    if kind == "truncated_json":
        whole = json.dumps(_envelope(spec, _plausible(spec, rng), rng)).encode()
        return Fuzzed(kind, whole[: rng.randint(0, max(0, len(whole) - 1))])
    if kind == "wrong_types":
        document: Any = _envelope(spec, _plausible(spec, rng), rng)
        if rng.random() < 0.3:  # the envelope's own fields wrong instead
            document = {**document, rng.choice(list(document)): _wrong_value(rng)}
        if rng.random() < 0.2:  # a bare model with wrong fields (bare_ok topics try it)
            document = _plausible(spec, rng)
        return Fuzzed(kind, json.dumps(document).encode())
    if kind == "huge_string":
        limit = min(spec.max_bytes, _HUGE_CAP)
        # Mostly mid-sized; the bound itself (just under, just over) one time in five.
        size = rng.choices([5000, 70_000, limit - 200, limit + 1], weights=[5, 3, 1, 1])[0]
        names = _fields(spec.model) or ["text"]
        data = {name: "x" for name in names} | {rng.choice(names): "é" * max(0, size // 2)}
        return Fuzzed(kind, json.dumps(_envelope(spec, data, rng), ensure_ascii=False).encode())
    if kind == "deep_nesting":
        depth = rng.choice([64, 300, 5000, 50_000])
        inner = _nested(depth, rng)
        if rng.random() < 0.5:
            return Fuzzed(kind, inner.encode())
        head = json.dumps(_envelope(spec, None, rng))[: -len("null}")]
        return Fuzzed(kind, f"{head}{inner}}}".encode())
    if kind == "json_oddity":
        oddity = rng.choice(
            ['{"data": NaN}', "1e999", '"\\ud800"', "null", "true", "[]", '""', "-0",
             f'{{"id": {"9" * 400}}}', '{"id":"a","id":"b"}', "\ufeff{}", "{}" * 1000]
        )  # fmt: skip
        return Fuzzed(kind, oddity.encode())
    extension = rng.choice(["{", "[]", "null", '{"satellite": 5}', _nested(3000, rng), "é" * 999])
    valid_looking = json.dumps(_envelope(spec, _plausible(spec, rng), rng)).encode()
    return Fuzzed(kind, valid_looking, {"tars-ext": extension})


def _binary_payload(spec: TopicSpec, rng: random.Random) -> Fuzzed:
    length = rng.choice([0, 1, 3, 641, 640, rng.randint(0, 4000), spec.max_bytes + 1])
    properties = rng.choice(
        [{}, {"seq": "x", "ts": "nan"}, {"seq": "-1", "ts": "1e999"}, {"rate": "0"}, {"rate": "-5"}]
    )
    return Fuzzed("random_frame", rng.randbytes(length), properties)


def payloads(spec: TopicSpec, count: int, seed: int) -> Iterator[Fuzzed]:
    """``count`` fuzzed messages for a topic of ``spec``, cycling through the kinds."""
    rng = random.Random(seed)
    for index in range(count):
        if spec.binary:
            yield _binary_payload(spec, rng)
        else:
            yield _json_payload(KINDS[index % len(KINDS)], spec, rng)


@dataclass
class FuzzReport:
    """What was sent."""

    per_topic: dict[str, int] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    json_messages: int = 0
    binary_messages: int = 0
    bytes_sent: int = 0


async def send(
    buses: Mapping[str, MqttBus], chosen: list[FuzzTarget], per_topic: int, seed: int = 11
) -> FuzzReport:
    """Publish ``per_topic`` fuzzed messages on every target, each as its allowed user.

    ``buses`` maps a broker user to a connected bus logged in as that user.
    """
    report = FuzzReport()
    for index, target in enumerate(chosen):
        bus = buses[target.user]
        qos = min(target.spec.qos, 1)
        pending: list[asyncio.Future[None]] = []
        for fuzzed in payloads(target.spec, per_topic, seed + index):
            pending.append(
                asyncio.ensure_future(
                    bus.publish_raw(
                        target.topic, fuzzed.payload, properties=fuzzed.properties, qos=qos
                    )
                )
            )
            report.kinds[fuzzed.kind] += 1
            report.bytes_sent += len(fuzzed.payload)
            if len(pending) >= _IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        report.per_topic[target.topic] = per_topic
        if target.spec.binary:
            report.binary_messages += per_topic
        else:
            report.json_messages += per_topic
    return report


def users(chosen: list[FuzzTarget]) -> list[str]:
    """The broker users needed to publish on ``chosen``."""
    return sorted({target.user for target in chosen})
