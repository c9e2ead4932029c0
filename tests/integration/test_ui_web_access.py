"""ui-web's doors: the token beyond loopback, Host and Origin checks, and bounded input.

The real service runs against the session's Mosquitto; requests come from httpx and the
websockets client, always to 127.0.0.1 (a service bound to 0.0.0.0 is reached on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.broker import TestBroker, running
from tests.support.stack import ServiceStack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tars.runtime.bus import RawMessage
from tars.services.ui_web.service import UiWebService
from tars.services.ui_web.settings import UiWebSettings

pytestmark = [pytest.mark.broker]
TOKEN = "correct-horse-battery-staple"


@contextlib.asynccontextmanager
async def web_ui(broker: TestBroker, data: Path, **settings: Any) -> AsyncIterator[UiWebService]:
    ui = UiWebService(UiWebSettings(port=0, **settings), data)
    async with ServiceStack(broker) as stack:
        await stack.start(ui)
        yield ui


def base(ui: UiWebService) -> str:
    return f"http://127.0.0.1:{ui.port}"


def ws_url(ui: UiWebService, query: str = "") -> str:
    return f"ws://127.0.0.1:{ui.port}/ws{query}"


async def hello(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert message["kind"] == "hello"
    return message


async def next_kind(socket: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if message["kind"] == kind:
            return message


async def close_code(socket: ClientConnection) -> int | None:
    """Receive until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), 5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_beyond_loopback_every_door_needs_the_token(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    async with web_ui(mqtt_broker, tmp_path, host="0.0.0.0", token=TOKEN) as ui:
        assert ui.url is not None
        assert ui.url.endswith(f"?token={TOKEN}")
        async with httpx.AsyncClient(base_url=base(ui), trust_env=False) as http:
            page = await http.get("/")
            assert page.status_code == 401
            assert "protected" in page.text
            assert (await http.get("/static/js/main.js")).status_code == 401
            assert (await http.get("/api/state")).status_code == 401
            wrong = {"authorization": "Bearer not-it"}
            assert (await http.get("/api/state", headers=wrong)).status_code == 401
            refused = await http.post("/api/say", json={"text": "hello"})
            assert refused.status_code == 401
            right = {"authorization": f"Bearer {TOKEN}"}
            assert (await http.get("/api/state", headers=right)).status_code == 200

            opened = await http.get(f"/?token={TOKEN}")  # the address `tars up` prints
            assert opened.status_code == 303
            assert opened.headers["location"] == "/"
            cookie = opened.headers["set-cookie"]
            assert "tars_token=" in cookie
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
            assert (await http.get("/")).status_code == 200  # the cookie now opens the page
            assert (await http.get("/api/config")).status_code == 200

        with pytest.raises(InvalidStatus) as refused_socket:
            async with connect(ws_url(ui), proxy=None):
                pass
        assert refused_socket.value.response.status_code == 403
        async with connect(ws_url(ui, f"?token={TOKEN}"), proxy=None) as socket:
            assert (await hello(socket))["satellite"] == "browser"
        assert ui.bus.metrics.count("refused.token") >= 5
        assert ui.bus.metrics.count("refused.websocket") == 1


async def test_on_loopback_only_local_names_and_same_origin_pages_get_in(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    async with web_ui(mqtt_broker, tmp_path) as ui:
        async with httpx.AsyncClient(base_url=base(ui), trust_env=False) as http:
            assert (await http.get("/api/state")).status_code == 200  # no token on loopback
            rebound = await http.get("/api/state", headers={"host": f"evil.example:{ui.port}"})
            assert rebound.status_code == 400
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(ui), origin="http://evil.example", proxy=None):  # type: ignore[arg-type]
                pass
        same = f"http://127.0.0.1:{ui.port}"
        async with connect(ws_url(ui), origin=same, proxy=None) as socket:  # type: ignore[arg-type]
            await hello(socket)


async def test_http_input_is_bounded_and_invalid_input_counted(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    async with (
        web_ui(mqtt_broker, tmp_path, max_text_chars=50, max_ws_message_bytes=2048) as ui,
        httpx.AsyncClient(base_url=base(ui), trust_env=False) as http,
    ):
        too_long = await http.post("/api/say", json={"text": "x" * 51})
        assert too_long.status_code == 422
        huge = await http.post("/api/say", content=b"{" + b" " * 4096 + b"}")
        assert huge.status_code == 413
        unknown = await http.post("/api/say", json={"text": "hi", "extra": 1})
        assert unknown.status_code == 422
        trait = await http.post("/api/character/traits", json={"trait": "humor", "value": 101})
        assert trait.status_code == 422
        bad_satellite = await http.post("/api/say", json={"text": "hi", "satellite": "Bad Id"})
        assert bad_satellite.status_code == 422
    metrics = ui.bus.metrics
    assert metrics.count("rejected_input.text_length") == 1
    assert metrics.count("rejected_input.body_size") == 1
    assert metrics.count("rejected_input.invalid_request") == 3


async def test_browser_microphone_frames_are_checked_then_published(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    heard: asyncio.Queue[RawMessage] = asyncio.Queue()
    listener = mqtt_broker.bus("cli", health=False)

    async def on_audio(message: RawMessage) -> None:
        heard.put_nowait(message)

    listener.subscribe_raw("audio/wsmic/pcm", on_audio)
    async with (
        running(listener),
        web_ui(mqtt_broker, tmp_path, max_ws_message_bytes=4096) as ui,
        connect(ws_url(ui), proxy=None) as socket,
    ):
        await hello(socket)
        await socket.send(b"\x00\x01" * 320)
        assert (await next_kind(socket, "error"))["reason"] == "audio_without_mic"
        await socket.send("{not json")
        assert (await next_kind(socket, "error"))["reason"] == "invalid_control"
        await socket.send(json.dumps({"type": "mic", "on": True, "satellite": "Not Valid"}))
        await socket.send(json.dumps({"type": "mic", "on": True, "satellite": "wsmic"}))
        await next_kind(socket, "ack")
        frame = bytes(range(256)) * 2 + b"\x00" * 128  # 20 ms: 320 samples
        await socket.send(frame)
        published = await asyncio.wait_for(heard.get(), 5)
        assert published.payload == frame
        assert published.properties.get("seq") == "0"
        await socket.send(b"\x00" * 641)
        assert (await next_kind(socket, "error"))["reason"] == "audio_odd_size"
        await socket.send(b"\x00" * 3202)  # 100.06 ms: longer than UI_WEB_MAX_AUDIO_FRAME_MS
        assert (await next_kind(socket, "error"))["reason"] == "audio_too_long"
        await socket.send(b"\x00" * 8000)  # beyond the WebSocket message limit: closed
        assert await close_code(socket) == 1009
    metrics = ui.bus.metrics
    assert metrics.count("rejected_input.invalid_control") == 2  # bad JSON, bad satellite id
    for reason in ("audio_without_mic", "audio_odd_size", "audio_too_long"):
        assert metrics.count(f"rejected_input.{reason}") == 1
    assert heard.empty()  # nothing refused reached the bus


async def test_pages_beyond_the_limit_and_floods_of_garbage_are_turned_away(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    async with (
        web_ui(mqtt_broker, tmp_path, max_clients=1, control_rate_per_s=1000) as ui,
        connect(ws_url(ui), proxy=None) as first,
    ):
        await hello(first)
        async with connect(ws_url(ui), proxy=None) as second:
            assert await close_code(second) == 1013
        for _ in range(50):
            await first.send("[]")
        assert await close_code(first) == 1008
        assert ui.bus.metrics.count("clients_refused") == 1
