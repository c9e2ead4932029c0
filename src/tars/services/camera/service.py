"""The camera service: capture loop, MJPEG server, preview frames, capture requests.

* ``camera/capture`` is answered on ``camera/image`` with the request's envelope id and
  ``request_id``: the next frame, encoded (JPEG or PNG, the requested quality and size) in
  a thread. Failures are answered too (``success: false``), never left waiting.
* ``camera/frame`` carries a base64 JPEG every ``1 / CAMERA_MQTT_FPS`` seconds (QoS 0).
* ``camera/status`` and health follow the source: ready, unavailable (and reopening).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time

from tars.contracts.camera import (
    TOPIC_CAMERA_CAPTURE,
    TOPIC_CAMERA_FRAME,
    TOPIC_CAMERA_IMAGE,
    TOPIC_CAMERA_STATUS,
    CameraCaptureRequest,
    CameraFrame,
    CameraImageResponse,
    CameraStatusUpdate,
)
from tars.runtime.bus import Bus, Message
from tars.runtime.settings import RuntimeSettings
from tars.services.camera.capture import Camera, encode
from tars.services.camera.http import CameraHttp
from tars.services.camera.settings import CameraSettings
from tars.services.camera.sources import FrameSource, make_source

_LOGGER = logging.getLogger(__name__)
_CAPTURE_WAIT_S = 5.0


class CameraService:
    """Serves one camera on the bus and over HTTP.

    Args:
        settings: The service settings.
        source: The frame source; built from the settings when None.
    """

    name = "camera"

    def __init__(self, settings: CameraSettings, source: FrameSource | None = None) -> None:
        self._settings = settings
        source = source or make_source(
            settings.source,
            device_index=settings.device_index,
            width=settings.width,
            height=settings.height,
            fps=settings.fps,
        )
        self.camera = Camera(
            source,
            fps=settings.fps,
            rotation=settings.rotation,
            quality=settings.jpeg_quality,
            reopen_after_failures=settings.reopen_after_failures,
            reopen_delay_s=settings.reopen_delay_s,
            on_status=self._on_camera_status,
        )
        token = settings.token.get_secret_value() if settings.token else None
        self.http = CameraHttp(
            self.camera,
            host=settings.http_host,
            port=settings.http_port,
            token=token,
            max_stream_clients=settings.max_stream_clients,
        )
        self._bus: Bus | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        assert self._bus is not None, "attach() first"
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Subscribe to capture requests."""
        self._bus = bus
        bus.subscribe(TOPIC_CAMERA_CAPTURE, self._on_capture, workers=2)

    async def run(self) -> None:
        """Start the HTTP server, capture, and publish preview frames until cancelled."""
        await self.bus.wait_connected()
        await self.bus.set_health(False, f"opening {self.camera.source.description}")
        if self._settings.http_enabled:
            await self.http.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.camera.run(), name="camera:capture")
                if self._settings.mqtt_fps > 0:
                    group.create_task(self._preview(), name="camera:preview")
        finally:
            await self.http.close()

    async def _on_camera_status(self, event: str, detail: str | None) -> None:
        await self.bus.publish(
            TOPIC_CAMERA_STATUS,
            CameraStatusUpdate.model_validate({"event": event, "detail": detail}),
        )
        if event == "camera_ready":
            where = f", HTTP port {self.http.port}" if self._settings.http_enabled else ""
            await self.bus.set_health(True, f"ready: {detail}{where}")
        else:
            await self.bus.set_health(False, "camera unavailable", detail)

    async def _preview(self) -> None:
        interval = 1.0 / self._settings.mqtt_fps
        seq = -1
        while True:
            frame = await self.camera.next_frame(seq)
            seq = frame.seq
            data = await self.camera.jpeg(frame)
            width, height = frame.size
            await self.bus.publish(
                TOPIC_CAMERA_FRAME,
                CameraFrame(
                    frame_data=base64.b64encode(data).decode(),
                    format="jpeg",
                    width=width,
                    height=height,
                    frame_number=frame.seq,
                    fps=self._settings.fps,
                    timestamp=frame.captured_at,
                ),
            )
            await asyncio.sleep(interval)

    async def _on_capture(self, message: Message) -> None:
        request: CameraCaptureRequest = message.data
        self.bus.metrics.inc("captures")
        response = await self._capture(request)
        if not response.success:
            self.bus.metrics.inc("capture_failures")
        await self.bus.publish(TOPIC_CAMERA_IMAGE, response, id=message.envelope.id)

    async def _capture(self, request: CameraCaptureRequest) -> CameraImageResponse:
        def failed(error: str) -> CameraImageResponse:
            return CameraImageResponse(
                request_id=request.request_id,
                image_data="",
                format=request.format,
                width=0,
                height=0,
                size_bytes=0,
                success=False,
                error=error,
                purpose=request.purpose,
            )

        if request.format == "raw":
            return failed("raw frames are not sent over the bus; ask for jpeg or png")
        after = self.camera.latest.seq if self.camera.latest is not None else -1
        try:
            frame = await asyncio.wait_for(self.camera.next_frame(after), _CAPTURE_WAIT_S)
        except TimeoutError:
            return failed(f"no frame from {self.camera.source.description} within 5 s")
        width, height = frame.size
        size = (request.width or width, request.height or height)
        started = time.perf_counter()
        data = await asyncio.to_thread(encode, frame.image, request.format, request.quality, size)
        self.bus.metrics.observe("encode_ms", (time.perf_counter() - started) * 1e3)
        return CameraImageResponse(
            request_id=request.request_id,
            image_data=base64.b64encode(data).decode(),
            format=request.format,
            width=size[0],
            height=size[1],
            size_bytes=len(data),
            purpose=request.purpose,
            capture_timestamp=frame.captured_at,
        )


def build(runtime: RuntimeSettings) -> CameraService:
    """Build the camera service from ``CAMERA_*`` settings (``tars run camera``)."""
    del runtime  # the camera keeps no files
    return CameraService(CameraSettings())
