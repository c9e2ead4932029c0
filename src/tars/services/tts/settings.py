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
    noise_scale: float | None = Field(default=None, ge=0.0, le=2.0)
    """Piper voice variability (unitless; 0 with noise_w_scale 0 = the same audio for the same
    text every time); unset = the voice's own (0.667 for the bundled voice)."""
    noise_w_scale: float | None = Field(default=None, ge=0.0, le=2.0)
    """Piper phoneme duration variability (unitless); unset = the voice's own (0.8)."""
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
    wav_dir: Path = Path("tts-out")
    """Folder (or one .wav file path) the wav sink writes to; relative = under TARS_DATA_DIR."""
    wav_paced: bool = False
    """Whether the wav sink writes in real time like a speaker (for tests and demos)."""
    audio_chunk_ms: int = Field(default=40, ge=10, le=200)
    """Size of each binary audio message on tts/audio/<satellite>, in ms."""
    audio_lead_ms: int = Field(default=200, ge=0, le=5000)
    """How far ahead of real time remote audio is sent, in ms (bounds what stop cannot recall)."""
    cache_enable: bool = True
    """Whether acknowledgements and announcements are served from the phrase cache."""
    cache_dir: Path = Path("tts-cache")
    """Folder of cached phrase WAVs (py-tars TTS_WAKE_CACHE_DIR); relative = under TARS_DATA_DIR."""
    cache_size: int = Field(default=32, ge=1)
    """Most phrases kept in the cache, least recently used dropped first (py-tars: 16)."""
    reply_idle_s: float = Field(default=20.0, gt=0.0)
    """Longest wait for the next piece of a reply without its last piece before it ends, in s."""
    stop_memory_s: float = Field(default=120.0, gt=0.0)
    """How long a stopped reply id is remembered so its later pieces are dropped, in s."""
    preload_phrases: Annotated[tuple[str, ...], NoDecode] = (
        "Hmm?",
        "Huh?",
        "Yes?",
        "System online.",
    )
    """Phrases cached at start, "|" (or ",") separated (py-tars wake acks and online)."""

    @field_validator("preload_phrases", mode="before")
    @classmethod
    def _split_phrases(cls, value: object) -> object:
        # py-tars spells phrase lists as "Hmm?|Huh?|Yes?"; .env.example (generated) joins
        # lists with commas, so a value without "|" is read as comma-separated.
        if isinstance(value, str):
            separator = "|" if "|" in value else ","
            return tuple(part.strip() for part in value.split(separator) if part.strip())
        return value
