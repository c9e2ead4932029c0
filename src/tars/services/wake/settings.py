"""Wake service settings, read from `WAKE_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.satellites import OwnershipSettings
from tars.runtime.workers import WorkerLimits
from tars.services.wake.interrupt import DEFAULT_CANCEL_PHRASES, BargeInConfig


class WakeSettings(OwnershipSettings):
    """Configuration of the wake service (detector and barge-in machine)."""

    model_config = SettingsConfigDict(env_prefix="WAKE_", frozen=True, extra="ignore")

    model: str = "okay_nabu"
    """Bundled wake word (okay_nabu, hey_jarvis, hey_mycroft, alexa) or a .json/.tflite path."""
    detection_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    """Detection probability cutoff, 0-1; unset uses the model's own (okay_nabu: 0.85)."""
    min_retrigger_sec: float = Field(default=1.0, ge=0.0)
    """Minimum audio time between two detections, in seconds (py-tars 1.0)."""
    detection_window_ms: int = Field(default=750, gt=0)
    """Window of the energy (RMS) reported with a detection, in milliseconds (py-tars 750)."""
    interrupt_window_sec: float = Field(default=3.0, gt=0.0)
    """Time to start speaking after a barge-in before the reply resumes, in seconds."""
    speech_grace_sec: float = Field(default=2.0, gt=0.0)
    """Each partial transcript keeps a window open at least this much longer, in seconds."""
    max_window_sec: float = Field(default=15.0, gt=0.0)
    """Hard cap on a listening or interrupt window, in seconds."""
    idle_timeout_sec: float = Field(default=3.0, gt=0.0)
    """Time to start speaking after a plain wake before a timeout event, in seconds."""
    cancel_phrases: tuple[str, ...] = DEFAULT_CANCEL_PHRASES
    """Transcripts that cancel an interrupted reply (JSON list in the environment)."""
    queue_frames: int = Field(default=250, ge=1)
    """Audio frames queued per satellite before the oldest is dropped (250: 5-10 s)."""
    max_satellites: int = Field(default=32, ge=1)
    """Satellites listened to at once; a new one closes the least recently active."""
    satellite_idle_sec: float = Field(default=300.0, ge=0.0)
    """Seconds without audio after which a satellite's detector is freed; 0 keeps it."""

    def barge_in(self) -> BargeInConfig:
        """The barge-in machine's configuration from these settings.

        Raises:
            ValueError: the windows are inconsistent (cap below a window).
        """
        return BargeInConfig(
            interrupt_window_s=self.interrupt_window_sec,
            speech_grace_s=self.speech_grace_sec,
            max_window_s=self.max_window_sec,
            idle_timeout_s=self.idle_timeout_sec,
            cancel_phrases=self.cancel_phrases,
        )

    def worker_limits(self, allowed: str = "") -> WorkerLimits:
        """Bounds of the per-satellite detector workers; ``allowed`` is ``TARS_SATELLITES``."""
        return WorkerLimits(
            queue_size=self.queue_frames,
            max_keys=self.max_satellites,
            idle_s=self.satellite_idle_sec,
            policy=self.satellite_policy(allowed),
        )
