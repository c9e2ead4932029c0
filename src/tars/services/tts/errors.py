"""Errors of the TTS audio sinks."""

from __future__ import annotations


class SinkError(RuntimeError):
    """An audio sink failed while playing."""


class SinkUnavailableError(SinkError):
    """A sink cannot be opened (library, driver or output device missing)."""
