"""`tars ask --speak` against running router and tts services: printed and spoken reply."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from tests.support.broker import TestBroker

from tars.audio import pcm
from tars.runtime.service import Service, serve
from tars.runtime.settings import RuntimeSettings
from tars.services.router.service import build as build_router
from tars.services.tts.service import build as build_tts

pytestmark = [pytest.mark.e2e, pytest.mark.broker]
REPO = Path(__file__).resolve().parents[2]


async def test_ask_prints_and_speaks_the_reply(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    runtime = RuntimeSettings(data_dir=tmp_path)
    stop = asyncio.Event()
    services: list[Service] = [build_router(runtime), build_tts(runtime)]
    runners = [
        asyncio.create_task(
            serve(service, mqtt_broker.bus(service.name), stop), name=f"test:{service.name}"
        )
        for service in services
    ]
    reply = tmp_path / "reply.wav"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MQTT_")}
    env.update(MQTT_URL=mqtt_broker.config.url("cli"), TARS_DATA_DIR=str(tmp_path))
    try:
        await asyncio.sleep(2.0)  # let tts load its voice
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tars", "ask", "--speak", str(reply), "say", "hello", "Sam",
            cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        stop.set()
        await asyncio.gather(*runners, return_exceptions=True)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert stdout.decode().splitlines()[-1] == "hello Sam"
    samples = pcm.read_wav(reply)
    assert samples.size > pcm.SAMPLE_RATE * 0.4  # about a second of speech
    assert pcm.rms(samples) > 300
