"""Settings of the terminal dashboard (environment variables prefixed ``UI_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


class UiSettings(TarsSettings):
    """What the terminal dashboard talks as and how much it keeps."""

    model_config = SettingsConfigDict(env_prefix="UI_", frozen=True, extra="ignore")

    satellite: str = Field(default="ui", pattern=r"^[a-z0-9_-]{1,32}$")
    """Satellite id typed turns come from (``local`` makes the sound card speak the reply)."""
    event_lines: int = Field(default=500, ge=10, le=100_000)
    """Event-stream lines kept on screen (lines)."""
    max_text_chars: int = Field(default=1000, ge=1, le=10_000)
    """Longest typed turn (characters)."""
