"""Settings of the camera service, read once from ``CAMERA_*`` environment variables."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CameraSettings(TarsSettings):
    """Configuration of the camera service: source, size, rates, HTTP server."""

    model_config = SettingsConfigDict(env_prefix="CAMERA_", frozen=True, extra="ignore")

    source: str = "auto"
    """``auto`` (/dev/video<CAMERA_DEVICE_INDEX> if present, else test frames), ``test``
    (generated frames), ``device`` (OpenCV device CAMERA_DEVICE_INDEX) or a video file path."""
    device_index: int = Field(default=0, ge=0)
    """OpenCV device index for ``device`` and ``auto``."""
    width: int = Field(default=640, ge=16, le=3840)
    """Capture width, pixels (before rotation)."""
    height: int = Field(default=480, ge=16, le=2160)
    """Capture height, pixels (before rotation)."""
    fps: float = Field(default=10.0, gt=0, le=60)
    """Capture rate, frames per second."""
    rotation: Literal[0, 90, 180, 270] = 0
    """Clockwise rotation applied to every frame, degrees."""
    jpeg_quality: int = Field(default=80, ge=1, le=100)
    """JPEG quality of the stream, snapshots and camera/frame."""
    mqtt_fps: float = Field(default=2.0, ge=0, le=10)
    """Rate of preview frames on camera/frame, frames per second (0 = none)."""
    http_host: str = "127.0.0.1"
    """Address the MJPEG server binds; beyond loopback CAMERA_TOKEN is required."""
    http_port: int = Field(default=8081, ge=0, le=65535)
    """Port of the MJPEG server (/stream, /snapshot); 0 picks a free one."""
    http_enabled: bool = True
    """Serve /stream and /snapshot over HTTP."""
    token: SecretStr | None = None
    """Access token for /stream and /snapshot (``?token=`` or ``Authorization: Bearer``)."""
    max_stream_clients: int = Field(default=4, ge=1)
    """MJPEG viewers at once; more are refused with 503."""
    reopen_after_failures: int = Field(default=30, ge=1)
    """Consecutive failed reads before the source is closed and reopened."""
    reopen_delay_s: float = Field(default=1.0, gt=0)
    """Wait before reopening a failed source, seconds (doubles up to 30 s)."""

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> CameraSettings:
        if self.http_enabled and not is_loopback(self.http_host) and self.token is None:
            raise ValueError(
                f"CAMERA_TOKEN is required when CAMERA_HTTP_HOST ({self.http_host}) is not "
                "a loopback address"
            )
        return self
