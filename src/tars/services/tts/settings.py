"""Configuration of the TTS service, read once from ``TTS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tars.runtime.settings import TarsSettings

SinkKind = Literal["sounddevice", "wav", "mqtt", "null"]
"""Where synthesised audio goes: sound card, WAV files, ``tts/audio/<satellite>``, nowhere."""


class TtsSettings(TarsSettings):
    """Settings of the TTS service (engine, voice, output, phrase cache)."""

    model_config = SettingsConfigDict(env_prefix="TTS_", frozen=True, extra="ignore")

    engine: Literal["piper", "espeak"] = "piper"
    """Speech engine; piper falls back to espeak-ng when it cannot load (py-tars TTS_PROVIDER)."""
    voice_path: str = ""
    """Piper voice .onnx file (its config next to it as .onnx.json); empty = bundled joe voice."""
    length_scale: float | None = Field(default=None, gt=0.0)
    """Piper phoneme duration factor (unitless, <1 faster); unset = the voice's own (1.0)."""
    speaker_id: int | None = Field(default=None, ge=0)
    """Piper speaker index for multi-speaker voices; unset = the voice default."""
    espeak_voice: str = "en-us"
    """espeak-ng voice name for the fallback engine."""
    espeak_wpm: int = Field(default=175, ge=80, le=450)
    """espeak-ng speaking rate, in words per minute."""
    sink: SinkKind = "sounddevice"
    """Output for the local satellite; remote satellites always get the mqtt sink."""
    output_device: str = ""
    """Sound card for the sounddevice sink: a PortAudio index or name part; empty = default."""
    device_block_ms: int = Field(default=20, ge=5, le=100)
    """Sound card callback block, in ms (pause and stop take effect within one block)."""
    wav_dir: Path = Path("data/tts-out")
    """Folder (or one .wav file path) the wav sink writes replies to."""
    wav_paced: bool = False
    """Whether the wav sink writes in real time like a speaker (for tests and demos)."""
    audio_chunk_ms: int = Field(default=40, ge=10, le=200)
    """Size of each binary audio message on tts/audio/<satellite>, in ms."""
    audio_lead_ms: int = Field(default=200, ge=0, le=5000)
    """How far ahead of real time remote audio is sent, in ms (bounds what stop cannot recall)."""
    cache_enable: bool = True
    """Whether acknowledgements and announcements are served from the phrase cache."""
    cache_dir: Path = Path("data/tts-cache")
    """Folder of cached phrase WAV files (py-tars TTS_WAKE_CACHE_DIR)."""
    cache_size: int = Field(default=32, ge=1)
    """Most phrases kept in the cache, least recently used dropped first (py-tars: 16)."""
    preload_phrases: Annotated[tuple[str, ...], NoDecode] = (
        "Hmm?",
        "Huh?",
        "Yes?",
        "System online.",
    )
    """Phrases synthesised into the cache at start, "|"-separated (py-tars wake acks + online)."""

    @field_validator("preload_phrases", mode="before")
    @classmethod
    def _split_phrases(cls, value: object) -> object:
        # py-tars spells phrase lists as "Hmm?|Huh?|Yes?", so keep that format on the env.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split("|") if part.strip())
        return value
