"""The py-tars v1 envelope ``{id, type, ts, source, data}`` around every JSON payload."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tars.contracts.base import new_id, now

DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """Wraps a payload with its correlation id, event type, time and publisher.

    ``id`` is the correlation id: a reply copies the id of the request it answers,
    and every ``llm/stream`` delta of one request shares it (``data.seq`` tells
    them apart).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_id)
    """Message or correlation id (uuid hex unless a producer correlates)."""
    type: str
    """Dotted event type, e.g. ``stt.final``."""
    ts: float = Field(default_factory=now)
    """Creation time, Unix seconds."""
    source: str = "tars"
    """Name of the publishing service."""
    data: DataT
    """The payload model."""
