"""Base classes shared by every contract model."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SATELLITE_PATTERN = r"^[a-z0-9_-]{1,32}$"
"""Allowed satellite ids: lowercase letters, digits, ``_`` and ``-``, 1-32 characters."""
LOCAL_SATELLITE = "local"
"""The satellite id of the machine's own sound card."""

SatelliteId = Annotated[str, Field(pattern=SATELLITE_PATTERN)]
"""A validated satellite id."""


def new_id() -> str:
    """Return a fresh random id (uuid4 hex), the form py-tars uses everywhere."""
    return uuid.uuid4().hex


def now() -> float:
    """Return the current Unix time in seconds."""
    return time.time()


class Model(BaseModel):
    """A strict, immutable wire model: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(Model):
    """A top-level message body; carries py-tars's per-message ``message_id``."""

    message_id: str = Field(default_factory=new_id)
    """Unique id of this message (py-tars v1 field, kept for wire compatibility)."""
