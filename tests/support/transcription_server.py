"""A real OpenAI-compatible ``/audio/transcriptions`` server for tests (stdlib, in a thread)."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERBOSE = {
    "text": " Turn on the kitchen lights.",
    "language": "english",
    "segments": [
        {"avg_logprob": -0.2, "no_speech_prob": 0.1, "tokens": [1, 2, 3]},
        {"avg_logprob": -0.6, "no_speech_prob": 0.3, "tokens": [4]},
    ],
}


@dataclass
class Reply:
    status: int = 200
    body: bytes = json.dumps(VERBOSE).encode()
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)


@dataclass
class Server:
    url: str
    reply: Reply
    seen: list[Seen]


def parse_multipart(content_type: str, body: bytes) -> Seen:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    seen = Seen()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is None:
            seen.form[name] = payload.decode()
        else:
            seen.files[name] = (filename, part.get_content_type(), payload)
    return seen


def make_handler(
    reply: Reply, seen: list[Seen], release: threading.Event
) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            record = parse_multipart(self.headers["Content-Type"], body)
            record.path = self.path
            record.headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append(record)
            if reply.delay_s:
                release.wait(reply.delay_s)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def transcription_server() -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 answering ``/audio/transcriptions`` uploads."""
    reply = Reply()
    seen: list[Seen] = []
    release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(reply, seen, release))
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="stt-http", daemon=True
    )
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}/v1", reply, seen)
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
