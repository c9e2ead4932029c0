"""Mic service settings, read from `MIC_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    playback: bool = False
    """Also play this satellite's replies (tts/audio/<satellite>) on the sound card, so the
    speaker's audio is known and its echo can be cancelled (on the local sound card set
    TTS_SINK=mqtt too, so the replies come here instead of to tts's own sink)."""
    output_device: str | None = None
    """Output device for MIC_PLAYBACK: an index or a name substring; unset = system default."""
    aec: Literal["webrtc", "off"] = "webrtc"
    """Echo canceller applied when the mic plays the replies itself: WebRTC AEC3, or off."""
    aec_delay_ms: int = Field(default=0, ge=0, le=500)
    """Known speaker-to-microphone delay the device does not report, in ms; must not exceed
    the real one (AEC3 finds the remaining delay itself, up to about 250 ms)."""
