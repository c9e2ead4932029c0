"""A tiny HTTP server for the camera: ``GET /snapshot`` (one JPEG) and ``GET /stream`` (MJPEG).

stdlib asyncio only, GET only, request heads bounded (8 KiB, 5 s). When a token is set,
every request must carry it (``?token=`` or ``Authorization: Bearer``); the settings make a
token mandatory when the server is bound beyond loopback. Viewers beyond
``max_stream_clients`` get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from urllib.parse import parse_qs, urlsplit

from tars.services.camera.capture import Camera

_LOGGER = logging.getLogger(__name__)
_MAX_HEAD = 8192
_HEAD_TIMEOUT_S = 5.0
_FRAME_TIMEOUT_S = 5.0
_BOUNDARY = "tarsframe"


class CameraHttp:
    """Serves one camera.

    Args:
        camera: The frames.
        host: Bind address.
        port: Bind port (0: any free one; see :attr:`port` after start).
        token: Required token, or None.
        max_stream_clients: MJPEG viewers at once.
    """

    def __init__(
        self, camera: Camera, *, host: str, port: int, token: str | None, max_stream_clients: int
    ) -> None:
        self._camera = camera
        self._host, self.port = host, port
        self._token = token
        self._max_clients = max_stream_clients
        self.stream_clients = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self.port, limit=_MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info("camera HTTP on %s:%d (/stream, /snapshot)", self._host, self.port)

    async def close(self) -> None:
        """Stop listening and end every open stream."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Each exchange is a task of ours, so close() can end a stream that never stops.
        task = asyncio.create_task(self._exchange(reader, writer), name="camera:http")
        self._tasks.add(task)
        try:
            await asyncio.wait([task])
        finally:
            self._tasks.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
            method, target, headers = _parse_head(head)
            status = self._check(method, target, headers)
            if status is not None:
                self.refused += 1
                await _respond(writer, status, b"", "text/plain")
            elif urlsplit(target).path == "/snapshot":
                await self._snapshot(writer)
            elif urlsplit(target).path == "/stream":
                await self._stream(writer)
            else:
                await _respond(writer, "404 Not Found", b"", "text/plain")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            with contextlib.suppress(ConnectionError):
                await _respond(writer, "400 Bad Request", b"", "text/plain")
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _check(self, method: str, target: str, headers: dict[str, str]) -> str | None:
        if method != "GET":
            return "405 Method Not Allowed"
        if self._token is None:
            return None
        offered = parse_qs(urlsplit(target).query).get("token", [""])[0]
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            offered = bearer[7:].strip()
        if not hmac.compare_digest(offered.encode(), self._token.encode()):
            return "401 Unauthorized"
        return None

    async def _snapshot(self, writer: asyncio.StreamWriter) -> None:
        try:
            frame = await asyncio.wait_for(self._camera.next_frame(), _FRAME_TIMEOUT_S)
        except TimeoutError:
            await _respond(writer, "503 Service Unavailable", b"no frame yet", "text/plain")
            return
        await _respond(writer, "200 OK", await self._camera.jpeg(frame), "image/jpeg")

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        if self.stream_clients >= self._max_clients:
            await _respond(writer, "503 Service Unavailable", b"too many viewers", "text/plain")
            return
        self.stream_clients += 1
        try:
            writer.write(
                "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\n"
                f"Content-Type: multipart/x-mixed-replace; boundary={_BOUNDARY}\r\n\r\n".encode()
            )
            seq = -1
            while True:
                frame = await asyncio.wait_for(self._camera.next_frame(seq), _FRAME_TIMEOUT_S)
                seq = frame.seq
                data = await self._camera.jpeg(frame)
                writer.write(
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                    + b"\r\n"
                )
                await writer.drain()
        finally:
            self.stream_clients -= 1


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    if len(head) > _MAX_HEAD:
        raise ValueError("request head too large")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return method, target, headers


async def _respond(writer: asyncio.StreamWriter, status: str, body: bytes, kind: str) -> None:
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
