"""The camera service on the in-memory bus, and its HTTP server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import cv2
import httpx
import numpy as np
import pytest
from pydantic import ValidationError
from tests.support.collect import Collector

from tars.contracts.camera import (
    TOPIC_CAMERA_CAPTURE,
    TOPIC_CAMERA_FRAME,
    TOPIC_CAMERA_IMAGE,
    CameraCaptureRequest,
)
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.services.camera.service import CameraService
from tars.services.camera.settings import CameraSettings


@contextlib.asynccontextmanager
async def camera_running(**overrides: object) -> AsyncIterator[tuple[CameraService, MemoryBus]]:
    fields: dict[str, object] = {"source": "test", "width": 320, "height": 240, "fps": 30,
                                 "http_port": 0, "mqtt_fps": 5}  # fmt: skip
    fields.update(overrides)
    broker = MemoryBroker()
    client, bus = MemoryBus("cli", broker), MemoryBus("camera", broker)
    client.expect_replies(TOPIC_CAMERA_IMAGE)
    service = CameraService(CameraSettings.model_validate(fields))
    service.attach(bus)
    tasks = [asyncio.create_task(b.run(), name=f"test:{b.service}") for b in (client, bus)]
    tasks.append(asyncio.create_task(service.run(), name="test:camera:run"))
    try:
        await asyncio.wait_for(service.camera.next_frame(), 5)
        yield service, client
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.parametrize(("rotation", "shape"), [(0, (240, 320, 3)), (90, (320, 240, 3))])
async def test_capture_returns_a_jpeg_of_the_expected_size(
    rotation: int, shape: tuple[int, int, int]
) -> None:
    async with camera_running(rotation=rotation) as (_, client):
        request = CameraCaptureRequest(purpose="test")
        reply = await client.request(
            TOPIC_CAMERA_CAPTURE, request, reply_topic=TOPIC_CAMERA_IMAGE, timeout_s=5
        )
    image = reply.data
    assert image.success
    assert (image.request_id, image.purpose, image.format) == (request.request_id, "test", "jpeg")
    data = base64.b64decode(image.image_data)
    assert data[:3] == b"\xff\xd8\xff"
    assert decode(data).shape == shape
    assert (image.height, image.width, image.size_bytes) == (shape[0], shape[1], len(data))


async def test_capture_resizes_and_refuses_raw() -> None:
    async with camera_running() as (_, client):
        small = await client.request(
            TOPIC_CAMERA_CAPTURE,
            CameraCaptureRequest(format="png", width=64, height=48),
            reply_topic=TOPIC_CAMERA_IMAGE,
            timeout_s=5,
        )
        raw = await client.request(
            TOPIC_CAMERA_CAPTURE,
            CameraCaptureRequest(format="raw"),
            reply_topic=TOPIC_CAMERA_IMAGE,
            timeout_s=5,
        )
    assert decode(base64.b64decode(small.data.image_data)).shape == (48, 64, 3)
    assert not raw.data.success
    assert "raw" in (raw.data.error or "")


async def test_preview_frames_at_a_low_rate() -> None:
    frames = Collector()
    async with camera_running(mqtt_fps=10) as (_, client):
        client.subscribe(TOPIC_CAMERA_FRAME, frames)
        await frames.wait_for(lambda _: len(frames.messages) >= 2)
    first = frames.messages[0].data
    assert (first.width, first.height, first.format) == (320, 240, "jpeg")
    assert frames.messages[1].data.frame_number > first.frame_number


async def test_snapshot_and_stream_over_http() -> None:
    async with camera_running() as (service, _), httpx.AsyncClient(timeout=5) as http:
        base = f"http://127.0.0.1:{service.http.port}"
        snapshot = await http.get(f"{base}/snapshot")
        assert snapshot.status_code == 200
        assert decode(snapshot.content).shape == (240, 320, 3)
        async with http.stream("GET", f"{base}/stream") as stream:
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
            seen = b""
            async for chunk in stream.aiter_bytes():
                seen += chunk
                if seen.count(b"--tarsframe") >= 2:
                    break
        assert seen.count(b"Content-Type: image/jpeg") >= 2
        missing = await http.get(f"{base}/nothing")
        assert missing.status_code == 404


async def test_beyond_loopback_the_token_is_required() -> None:
    with pytest.raises(ValidationError, match="CAMERA_TOKEN is required"):
        CameraSettings(http_host="0.0.0.0")
    async with (
        camera_running(http_host="0.0.0.0", token="s3cret") as (service, _),
        httpx.AsyncClient(timeout=5) as http,
    ):
        base = f"http://127.0.0.1:{service.http.port}"
        refused = await http.get(f"{base}/snapshot")
        wrong = await http.get(f"{base}/snapshot", params={"token": "guess"})
        by_query = await http.get(f"{base}/snapshot", params={"token": "s3cret"})
        by_header = await http.get(f"{base}/snapshot", headers={"Authorization": "Bearer s3cret"})
        stream = await http.get(f"{base}/stream")
    assert (refused.status_code, wrong.status_code, stream.status_code) == (401, 401, 401)
    assert (by_query.status_code, by_header.status_code) == (200, 200)
    assert service.http.refused == 3
