"""`tars up` starts ui-web, prints its address (with the token beyond loopback) and serves it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tars.runtime.broker import free_port

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


async def lines_until(stream: asyncio.StreamReader, wanted: str, seen: list[str]) -> str:
    deadline = time.monotonic() + 60
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line with {wanted!r} in:\n" + "".join(seen[-40:])
        raw = await asyncio.wait_for(stream.readline(), remaining)
        assert raw, "tars up ended early:\n" + "".join(seen[-40:])
        line = raw.decode(errors="replace")
        seen.append(line)
        if wanted in line:
            return line


async def test_tars_up_prints_the_web_ui_address_and_serves_it(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MQTT_", "UI_"))}
    env.update(
        TARS_DATA_DIR=str(tmp_path),
        TARS_LOG_FORMAT="text",
        UI_WEB_HOST="0.0.0.0",
        UI_WEB_PORT=str(port),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tars", "up", "ui-web",
        cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    try:
        printed = await lines_until(process.stderr, "[tars] web UI: ", seen)
        url = urlsplit(printed.split("web UI: ", 1)[1].split()[0])
        assert url.port == port
        assert url.query.startswith("token=")
        token = url.query.removeprefix("token=")
        assert (tmp_path / "ui-web" / "token").read_text() == token
        await lines_until(process.stderr, "ui-web: ok (ready)", seen)
        local = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=local, trust_env=False) as http:
            assert (await http.get("/")).status_code == 401
            opened = await http.get(f"/?{url.query}")
            assert opened.status_code == 303
            page = await http.get("/")
            assert page.status_code == 200
            assert "<title>TARS</title>" in page.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, "".join(seen[-40:])
