"""Environment overrides for services a bench builds in its own process.

Services read their settings from the environment when built, and settings move between
models as the code evolves (live mode went from ``STT_LIVE_MODE`` to the shared
``TARS_LIVE_MODE``); setting every known spelling for the duration of a bench keeps the
bench working across those moves, where passing fields to one settings class would not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

LIVE = {"TARS_LIVE_MODE": "1", "STT_LIVE_MODE": "1"}
"""Every utterance is addressed to TARS: no wake word needed (stt and router)."""
SATELLITES = {"TARS_SATELLITES": "", "STT_SATELLITES": "", "STT_SATELLITE_PARTITION": ""}
"""Serve every satellite: a deployment's allowlist must not hide the bench's own."""
QUIET = {"ROUTER_ONLINE_ANNOUNCE": "0", "TTS_SINK": "null"}
"""No boot announcement, and no sound card for the local satellite."""


@contextlib.contextmanager
def overrides(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stt_fields() -> frozenset[str]:
    """Fields of the stt settings model (empty when the stt extra is not installed)."""
    try:
        from tars.services.stt.settings import SttSettings
    except ImportError:
        return frozenset()
    return frozenset(SttSettings.model_fields)


def end_of_turn_env(mode: str | None) -> dict[str, str]:
    """The override selecting stt's end-of-turn ``mode`` (none for the service default)."""
    return {} if mode is None else {"STT_END_OF_TURN": mode}
