"""Settings of the stt service (environment variables prefixed ``STT_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tars.runtime.satellites import OwnershipSettings
from tars.runtime.workers import WorkerLimits
from tars.services.stt.filter_rules import DEFAULT_ALLOWED_SHORT

CommaList = Annotated[tuple[str, ...], NoDecode]
"""A tuple of strings written as ``a,b,c`` in the environment."""


class SttSettings(OwnershipSettings):
    """Everything the stt service reads from the environment, parsed once at start."""

    model_config = SettingsConfigDict(env_prefix="STT_", frozen=True, extra="ignore")

    # Backend
    backend: Literal["whisper", "openai"] = "whisper"
    """Transcription backend: local faster-whisper or an OpenAI-compatible server."""
    model: str = "tiny.en"
    """Whisper model: ``tiny.en``, ``base`` or a CTranslate2 model directory."""
    beam_size: int = Field(default=1, ge=1, le=10)
    """Beam width (1 = greedy; Whisper base is better with 5 in noise)."""
    window_s: float = Field(default=10.0, ge=0, le=30)
    """Shortest Whisper encoder window for short utterances, in s (0: always the full 30 s)."""
    cpu_threads: int = Field(default=0, ge=0)
    """CTranslate2 threads (0 = library default)."""
    device: str = "cpu"
    """Inference device for faster-whisper (``cpu``, ``cuda``, ``auto``)."""
    compute_type: str = "int8"
    """CTranslate2 compute type (``int8``; ``float16`` on a GPU)."""
    language: str = "en"
    """Transcription language (ISO-639-1)."""
    data_dir: Path | None = None
    """Where assembled models (Whisper base) are cached; default ``$TARS_DATA_DIR/stt``."""

    # OpenAI-compatible backend
    openai_base_url: str = "https://api.openai.com/v1"
    """API root of the OpenAI-compatible server."""
    openai_api_key: SecretStr | None = None
    """Bearer token for the server (unset for local servers without auth)."""
    openai_model: str = "whisper-1"
    """Model name sent to the server."""
    openai_response_format: Literal["verbose_json", "json"] = "verbose_json"
    """``verbose_json`` returns segment scores for the hallucination gates."""
    openai_timeout_s: float = Field(default=30.0, gt=0)
    """Read timeout of one transcription request, in seconds."""
    openai_connect_timeout_s: float = Field(default=5.0, gt=0)
    """Connect timeout, in seconds."""

    # VAD and end of speech
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Silero speech probability that starts speech (0-1)."""
    vad_release_threshold: float = Field(default=0.35, gt=0, lt=1)
    """Probability under which a window is non-speech once speaking (0-1)."""
    min_speech_ms: int = Field(default=160, ge=0)
    """Speech needed before an utterance starts, in ms."""
    vad_double_talk_threshold: float = Field(default=0.3, gt=0, lt=1)
    """Start probability while the satellite's own echo-cancelled speaker plays (0-1)."""
    min_speech_double_talk_ms: int = Field(default=96, ge=0)
    """Speech needed before an utterance starts while that speaker plays, in ms."""
    pre_roll_ms: int = Field(default=320, ge=0)
    """Audio kept from before the start of speech, in ms."""
    hangover_ms: int = Field(default=600, ge=0)
    """Non-speech that ends an utterance, in ms (py-tars: 700 ms fixed)."""
    end_of_turn: Literal["model", "punctuation", "fixed"] = "model"
    """How a turn ends: ``model`` (turn model + transcript vote at each pause),
    ``punctuation`` (the transcript alone, the old heuristic) or ``fixed`` (the hangover)."""
    turn_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Turn-model probability at or above which the audio sounds finished (0-1)."""
    turn_complete_hangover_ms: int = Field(default=150, ge=0)
    """Silence that ends a finished-sounding whole command answered by rule, in ms."""
    turn_open_hangover_ms: int = Field(default=700, ge=0)
    """Silence that ends a finished-sounding open request (it may go on), in ms."""
    turn_unsure_hangover_ms: int = Field(default=1000, ge=0)
    """Silence that ends a turn the signals disagree on, in ms."""
    turn_incomplete_hangover_ms: int = Field(default=2500, ge=0)
    """Silence that ends a turn both signals call incomplete (the cap), in ms."""
    turn_model_path: Path | None = None
    """A Smart Turn v3 ONNX file; the v3.2 model in the pipecat-ai package by default."""
    turn_model_threads: int = Field(default=1, ge=1)
    """onnxruntime threads of the turn model."""
    short_hangover_ms: int = Field(default=250, ge=0)
    """``punctuation`` mode: hangover once the transcript reads as complete, in ms."""
    tail_ms: int = Field(default=200, ge=0)
    """Trailing non-speech kept in the utterance audio, in ms."""
    max_utterance_s: float = Field(default=15.0, gt=0)
    """Longest utterance before it is cut, in seconds."""

    # Partials
    streaming_partials: bool = True
    """Publish partial transcripts while the user speaks."""
    partial_interval_ms: int = Field(default=600, ge=100)
    """Time between partial transcriptions while speaking, in ms."""
    partial_min_ms: int = Field(default=500, ge=0)
    """Audio needed before the first partial, in ms."""
    pause_partial_ms: int = Field(default=64, ge=0)
    """Non-speech after which a partial is taken at once (0 disables), in ms."""
    partial_min_chars: int = Field(default=4, ge=0)
    """Shortest partial text published, in characters."""
    partial_min_new_chars: int = Field(default=2, ge=0)
    """New characters needed versus the last partial, in characters."""
    partial_alpha_ratio_min: float = Field(default=0.5, ge=0, le=1)
    """Lowest alphabetic ratio of a published partial (0-1)."""

    # Noise floor (pre-gate on the start of speech)
    noise_gate: bool = True
    """Apply the noise-floor gate to the start of speech."""
    noise_min_rms: float = Field(default=220.0, ge=0)
    """Lowest noise gate and the RMS filter threshold, in s16 RMS units."""
    noise_floor_calib_s: float = Field(default=2.0, gt=0)
    """Non-speech audio used to calibrate the floor, in seconds."""
    noise_floor_alpha: float = Field(default=0.02, gt=0, le=1)
    """Adaptive floor update weight per 32 ms window (0-1)."""
    noise_floor_multiplier: float = Field(default=3.0, gt=0)
    """Gate = floor x this multiplier."""

    # Suppression filters
    min_duration_ms: int = Field(default=500, ge=0)
    """Shortest speech accepted, in ms."""
    min_active_ratio: float = Field(default=0.3, ge=0, le=1)
    """Lowest fraction of speech windows in an utterance (0-1)."""
    min_length: int = Field(default=3, ge=0)
    """Shortest transcript accepted, in characters."""
    min_alpha_ratio: float = Field(default=0.6, ge=0, le=1)
    """Lowest fraction of letters among visible characters (0-1)."""
    max_punct_ratio: float = Field(default=0.35, ge=0, le=1)
    """Highest fraction of punctuation among visible characters (0-1)."""
    dict_match_min_ratio: float = Field(default=0.40, ge=0, le=1)
    """Lowest fraction of common words (0-1)."""
    dict_match_min_ratio_response: float = Field(default=0.05, ge=0, le=1)
    """Lowest fraction of common words right after the wake word or a reply (0-1)."""
    common_words_extra: CommaList = ()
    """Extra common words, comma-separated."""
    no_speech_max: float = Field(default=0.6, ge=0, le=1)
    """Highest no-speech probability accepted (0-1)."""
    avg_logprob_min: float = -1.2
    """Lowest mean token log-probability accepted."""
    confidence_bypass: float = Field(default=0.95, ge=0, le=1)
    """Confidence above which the quality gates are skipped (0-1)."""
    strong_no_speech_max: float = Field(default=0.3, ge=0, le=1)
    """Strong acoustic evidence: no-speech probability at most this (0-1)."""
    strong_logprob_min: float = -0.8
    """Strong acoustic evidence: mean token log-probability at least this."""
    strong_active_ratio_min: float = Field(default=0.4, ge=0, le=1)
    """Strong acoustic evidence: at least this fraction of the utterance was speech (0-1)."""
    cough_phrases: CommaList = ("thank you", "hello", "okay", "hi")
    """Phrases Whisper hears in coughs, comma-separated."""
    cough_min_duration_ms: int = Field(default=600, ge=0)
    """Shortest accepted cough phrase, in ms."""
    cough_active_min_ratio: float = Field(default=0.25, ge=0, le=1)
    """Lowest active ratio of an accepted cough phrase (0-1)."""
    cough_min_syllables: int = Field(default=2, ge=0)
    """Fewest syllables of an accepted cough phrase."""
    allowed_short_commands: CommaList = DEFAULT_ALLOWED_SHORT
    """One-word commands exempt from the quality, cough and lexical gates, comma-separated."""
    repeat_cooldown_s: float = Field(default=8.0, ge=0)
    """Window in which a repeated transcript is suppressed, in seconds."""
    recent_phrase_count: int = Field(default=5, ge=1)
    """How many recent transcripts the repeat check compares against."""
    echo_fuzz_min_ratio: float = Field(default=0.85, ge=0, le=1)
    """Character similarity to recent TTS text that counts as echo (0-1)."""

    # Listening windows (gating; the windows themselves are `ConversationSettings`)
    wake_cut_margin_ms: int = Field(default=200, ge=0)
    """Audio kept from before the end of the wake word when it is cut off, in ms."""
    held_utterance_s: float = Field(default=3.0, ge=0)
    """How long an utterance heard outside any window waits for a late wake event, seconds."""
    voice_barge_in: bool = True
    """On echo-cancelled satellites (frames with the aec property), speech over a reply
    pauses it without the wake word (stt/barge_in); what was said then decides the rest."""
    voice_barge_in_min_turn_ms: int = Field(default=600, ge=0)
    """Speech over a reply shorter than this that is not a command is a backchannel, in ms."""

    # Per-satellite workers
    queue_frames: int = Field(default=250, ge=1)
    """Audio frames queued per satellite before the oldest is dropped (250 = 5 s of 20 ms)."""
    max_satellites: int = Field(default=32, ge=1)
    """Satellites served at once; a new one closes the least recently active."""
    satellite_idle_s: float = Field(default=300.0, ge=0.0)
    """Seconds without audio after which a satellite's state is freed (0 keeps it)."""

    def worker_limits(self, allowed: str = "") -> WorkerLimits:
        """Bounds of the per-satellite workers; ``allowed`` is ``TARS_SATELLITES``."""
        return WorkerLimits(
            queue_size=self.queue_frames,
            max_keys=self.max_satellites,
            idle_s=self.satellite_idle_s,
            policy=self.satellite_policy(allowed),
        )

    @field_validator(
        "common_words_extra",
        "cough_phrases",
        "allowed_short_commands",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
