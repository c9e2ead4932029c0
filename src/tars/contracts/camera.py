"""Camera frames, capture requests and status."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, new_id, now

TOPIC_CAMERA_FRAME = "camera/frame"
TOPIC_CAMERA_CAPTURE = "camera/capture"
TOPIC_CAMERA_IMAGE = "camera/image"
TOPIC_CAMERA_STATUS = "camera/status"


class CameraCaptureRequest(Payload):
    """Ask for one still image."""

    request_id: str = Field(default_factory=new_id)
    """Id echoed by the response."""
    format: Literal["jpeg", "png", "raw"] = "jpeg"
    """Image encoding."""
    quality: int = Field(default=85, ge=1, le=100)
    """JPEG quality."""
    width: int | None = Field(default=None, ge=1)
    """Requested width, pixels."""
    height: int | None = Field(default=None, ge=1)
    """Requested height, pixels."""
    purpose: str | None = None
    """Why the image is wanted (e.g. describe_scene)."""
    timestamp: float = Field(default_factory=now)
    """When the request was made, Unix seconds."""


class CameraImageResponse(Payload):
    """A captured still image."""

    request_id: str
    """Id of the request."""
    image_data: str
    """Base64 image bytes."""
    format: Literal["jpeg", "png", "raw"]
    """Image encoding."""
    width: int = Field(ge=0)
    """Width, pixels."""
    height: int = Field(ge=0)
    """Height, pixels."""
    size_bytes: int = Field(ge=0)
    """Encoded size, bytes."""
    success: bool = True
    """Whether the capture worked."""
    error: str | None = None
    """Why it failed."""
    purpose: str | None = None
    """Echo of the request's purpose."""
    capture_timestamp: float = Field(default_factory=now)
    """When the frame was captured, Unix seconds."""
    timestamp: float = Field(default_factory=now)
    """When the response was made, Unix seconds."""


class CameraStatusUpdate(Payload):
    """A change in the camera's state."""

    event: Literal[
        "camera_ready",
        "camera_unavailable",
        "capture_started",
        "capture_completed",
        "capture_failed",
    ]
    """What happened."""
    request_id: str | None = None
    """Related capture request."""
    detail: str | None = None
    """Extra information."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class CameraFrame(Payload):
    """A low-rate preview frame."""

    frame_data: str
    """Base64 image bytes."""
    format: Literal["jpeg", "png"]
    """Image encoding."""
    width: int = Field(ge=1)
    """Width, pixels."""
    height: int = Field(ge=1)
    """Height, pixels."""
    frame_number: int = Field(ge=0)
    """Counter since the camera started."""
    fps: float | None = Field(default=None, ge=0)
    """Capture rate, frames per second."""
    timestamp: float = Field(default_factory=now)
    """When the frame was captured, Unix seconds."""
