"""The browser is a satellite: its microphone is heard and its replies are played.

Chromium's fake capture device plays a WAV file (the wake word, then a question) into
getUserMedia; the page downsamples it to 16 kHz s16le in its AudioWorklet and streams it
over the WebSocket; ui-web publishes it on ``audio/browser/pcm`` where the real wake and
stt services hear it; the router answers, tts speaks on ``tts/audio/browser``, and the
page plays that audio.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import async_playwright
from tests.support.broker import TestBroker, running
from tests.support.browser import launch, screenshot
from tests.support.collect import Collector
from tests.support.stack import ServiceStack
from tests.support.voice import spoken

from tars.audio.pcm import silence, write_wav
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.runtime.settings import RuntimeSettings
from tars.services.router.service import build as build_router
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.ui_web.service import UiWebService
from tars.services.ui_web.settings import UiWebSettings
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.broker,
    pytest.mark.engine,
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def voice_stack(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[UiWebService]:
    data = tmp_path_factory.mktemp("ui-web-voice")
    ui = UiWebService(UiWebSettings(port=0), data)
    async with ServiceStack(mqtt_broker) as services:
        await services.start(
            TtsService(TtsSettings(sink="null", cache_enable=False), data, synthesizer=piper_voice),
            build_router(RuntimeSettings(data_dir=data)),
            SttService(SttSettings(), transcriber=whisper, turn_model=turn_model),
            WakeService(WakeSettings()),
            ui,
        )
        yield ui


async def test_browser_microphone_is_heard_and_the_reply_plays_in_the_page(
    voice_stack: UiWebService,
    mqtt_broker: TestBroker,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    clip = tmp_path / "request.wav"
    request = spoken(piper_voice, "okay nabu", "what time is it", gap_s=0.3, pad_s=0.5)
    # The user starts talking a second after the click, as people do: the browser's noise
    # suppression and gain control adapt to the room at first.
    write_wav(clip, np.concatenate([silence(1.0), request, silence(6.0)]))
    finals = Collector()
    listener = mqtt_broker.bus("cli", health=False)
    listener.subscribe(TOPIC_STT_FINAL, finals)
    assert voice_stack.url is not None
    async with running(listener), async_playwright() as playwright:
        browser = await launch(playwright, fake_audio=clip)
        try:
            context = await browser.new_context(
                viewport={"width": 1400, "height": 900}, permissions=["microphone"]
            )
            page = await context.new_page()
            await page.goto(voice_stack.url)
            await page.wait_for_selector("body[data-ready=true]")
            await page.click("#mic")
            await page.locator("#mic.live").wait_for()
            heard = await finals.wait_for(lambda m: m.data.satellite == "browser", 30)
            await page.locator(".line.user.final", has_text=re.compile("time", re.I)).wait_for()
            clock = re.compile(r"\d{1,2}:\d{2}")
            reply = page.locator(".line.tars.done .bubble", has_text=clock).first
            await reply.wait_for(timeout=30_000)
            await page.wait_for_function(
                "() => window.tarsSatellite.samplesPlayed > 8000", timeout=30_000
            )
            await page.locator('.level[data-satellite="browser"]').wait_for()  # heard on the bus
            await page.locator('.level[data-satellite="this browser"]').wait_for()
            stats = await page.evaluate("window.tarsSatellite")
            link = await page.evaluate("window.tarsLink")
            shot = await screenshot(page, "browser-satellite")
            print(
                f"\nheard {heard.data.text!r}; reply {await reply.inner_text()!r}; {stats}; {shot}"
            )
        finally:
            await browser.close()
    assert "time" in heard.data.text.lower()
    assert stats["framesSent"] > 100  # over 2 s of microphone audio went out
    assert link["closed"] == 0, link  # the page stayed connected throughout
