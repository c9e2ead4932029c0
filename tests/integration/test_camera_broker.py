"""The camera through a real broker: a capture request, and the built-in camera tool."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.serving import serving

from tars.contracts.camera import TOPIC_CAMERA_CAPTURE, TOPIC_CAMERA_IMAGE, CameraCaptureRequest
from tars.contracts.tools import TOPIC_TOOL_CALL_REQUEST, TOPIC_TOOL_CALL_RESULT, ToolCallRequest
from tars.services.camera.service import CameraService
from tars.services.camera.settings import CameraSettings
from tars.services.mcp.config import builtin_servers
from tars.services.mcp.service import McpService
from tars.services.mcp.settings import McpSettings

pytestmark = pytest.mark.broker


def shape_of(image_data: str) -> tuple[int, ...]:
    data = base64.b64decode(image_data)
    assert data[:3] == b"\xff\xd8\xff"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return tuple(image.shape)


async def test_capture_request_and_the_look_tool(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    cli, llm = mqtt_broker.bus("cli", health=False), mqtt_broker.bus("llm", health=False)
    cli.expect_replies(TOPIC_CAMERA_IMAGE)
    results = Collector()
    llm.subscribe(TOPIC_TOOL_CALL_RESULT, results)
    settings = CameraSettings(source="test", width=320, height=240, http_port=0, mqtt_fps=0)
    servers = builtin_servers("camera", call_timeout_s=10, start_timeout_s=60)
    async with (
        running(cli, llm),
        serving(mqtt_broker, CameraService(settings)),
        serving(mqtt_broker, McpService(McpSettings(), servers, log_dir=tmp_path)),
    ):
        reply = await cli.request(
            TOPIC_CAMERA_CAPTURE,
            CameraCaptureRequest(),
            reply_topic=TOPIC_CAMERA_IMAGE,
            timeout_s=10,
        )
        assert shape_of(reply.data.image_data) == (240, 320, 3)
        await llm.publish(
            TOPIC_TOOL_CALL_REQUEST,
            ToolCallRequest(call_id="look-1", name="mcp__camera__look", arguments={}),
        )
        looked = (await results.wait_for(lambda m: m.data.call_id == "look-1", 20)).data
    assert looked.error is None
    assert '"width":320' in (looked.content or "")
    assert "characters>" in (looked.content or "")  # the image itself is not read to the model
    assert looked.result is not None
    assert shape_of(looked.result["reply"]["image_data"]) == (240, 320, 3)
