"""Settings of the movement service, read once from ``MOVEMENT_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


class MovementSettings(TarsSettings):
    """Configuration of the movement service: controller mode, limits, simulator timing."""

    model_config = SettingsConfigDict(env_prefix="MOVEMENT_", frozen=True, extra="ignore")

    mode: Literal["auto", "esp32", "simulator"] = "auto"
    """``esp32``: a real controller; ``simulator``: play the controller on the bus; ``auto``:
    simulate until an ESP32 reports healthy on system/health/esp32."""
    esp32_wait_s: float = Field(default=2.0, ge=0)
    """auto: how long to wait for a healthy ESP32 after connecting before simulating, seconds."""
    rate_per_s: float = Field(default=2.0, gt=0)
    """Commands forwarded per second, sustained (commands/s)."""
    burst: int = Field(default=3, ge=1)
    """Commands that may be forwarded at once before the rate applies (commands)."""
    max_pending: int = Field(default=4, ge=1)
    """Commands forwarded and not yet finished by the controller before refusing more."""
    pending_timeout_s: float = Field(default=30.0, gt=0)
    """A forwarded command with no completion after this long no longer counts, seconds."""
    stop_hold_s: float = Field(default=1.0, ge=0)
    """Commands arriving this soon after an emergency stop are refused, seconds."""
    sim_time_scale: float = Field(default=1.0, gt=0, le=10)
    """Simulator: multiply the firmware's movement durations by this (1 = real timing)."""
    sim_queue_max: int = Field(default=16, ge=1)
    """Simulator: commands queued on the simulated controller before queue_full."""
