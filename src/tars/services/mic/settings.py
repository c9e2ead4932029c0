"""Mic service settings, read from `MIC_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


class MicSettings(TarsSettings):
    """Configuration of the mic service (which source, frame size, satellite id)."""

    model_config = SettingsConfigDict(env_prefix="MIC_", frozen=True, extra="ignore")

    device: str | None = None
    """Input device: an index or a case-insensitive name substring; unset = system default."""
    file: Path | None = None
    """Play this WAV file instead of capturing a sound card (tests, demos, `tars listen`)."""
    frame_ms: int = Field(default=20, ge=10, le=40)
    """Duration of one published frame, in milliseconds (py-tars CHUNK_DURATION_MS, 20)."""
    satellite_id: str = Field(default="local", pattern=r"^[a-z0-9_-]{1,32}$")
    """Satellite id in the audio topic audio/<satellite>/pcm; the local sound card is local."""
    loop_file: bool = False
    """Replay MIC_FILE for ever instead of stopping at its end."""
    realtime: bool = True
    """Pace MIC_FILE like a live microphone; false plays it as fast as possible."""
    trailing_silence_sec: float = Field(default=1.0, ge=0.0)
    """Silence appended to MIC_FILE so a VAD can end its last utterance, in seconds."""
    max_queue_frames: int = Field(default=256, ge=1)
    """Captured frames buffered before the oldest is dropped (py-tars fan-out: 256)."""
