"""The web dashboard in headless Chromium against the real backend, broker and services.

Memory (hashing embedder), tts (the session's Piper voice), router and ui-web run in this
process, each on its own broker login; Playwright drives Debian's Chromium. Screenshots of
the main views are kept under ``test-artifacts/ui-web/``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from tests.support.broker import TestBroker, running
from tests.support.browser import launch, screenshot
from tests.support.collect import Collector
from tests.support.stack import ServiceStack

from tars.audio.pcm import tone, write_wav
from tars.contracts.character import TOPIC_CHARACTER_CURRENT
from tars.contracts.memory import TOPIC_MEMORY_REMEMBER, MemoryFact
from tars.runtime.settings import RuntimeSettings
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings
from tars.services.mic.service import MicService
from tars.services.mic.settings import MicSettings
from tars.services.router.service import build as build_router
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.ui_web.service import UiWebService
from tars.services.ui_web.settings import UiWebSettings

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]
CLOCK = re.compile(r"\d{1,2}:\d{2}")


@dataclass
class Dashboard:
    services: ServiceStack
    ui: UiWebService
    browser: Browser
    broker: TestBroker

    @property
    def url(self) -> str:
        assert self.ui.url is not None
        return self.ui.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dashboard(
    mqtt_broker: TestBroker, piper_voice: PiperSynthesizer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Dashboard]:
    data = tmp_path_factory.mktemp("ui-web")
    ui = UiWebService(UiWebSettings(port=0), data, heartbeat_s=2.0)
    async with ServiceStack(mqtt_broker) as services:
        await services.start(
            MemoryService(MemorySettings(embedder="hashing"), data / "memory"),
            TtsService(TtsSettings(sink="null", cache_enable=False), data, synthesizer=piper_voice),
            build_router(RuntimeSettings(data_dir=data)),
            ui,
        )
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                yield Dashboard(services, ui, browser, mqtt_broker)
            finally:
                await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(dashboard: Dashboard) -> AsyncIterator[Page]:
    context = await dashboard.browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Console errors include Content-Security-Policy violations (the page sends a strict CSP).
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    await page.goto(dashboard.url)
    await page.wait_for_selector("body[data-ready=true]")
    yield page
    await context.close()
    assert not errors, errors


async def ask(page: Page, text: str) -> None:
    await page.fill("#say", text)
    await page.press("#say", "Enter")


async def test_typed_question_shows_the_reply_and_plays_it(page: Page) -> None:
    await page.click("#speaker")  # this page plays the "browser" satellite's replies
    await ask(page, "what time is it")
    await page.locator(".line.user.typed", has_text="what time is it").wait_for()
    reply = page.locator(".line.tars.done .bubble", has_text=CLOCK)
    await reply.wait_for(timeout=20_000)
    await page.wait_for_function("() => window.tarsSatellite.samplesPlayed > 8000", timeout=20_000)
    await page.locator("#latency svg rect").first.wait_for()
    shot = await screenshot(page, "dashboard")
    print(f"\nreply: {await reply.inner_text()!r}; screenshot {shot}")


async def test_health_shows_every_running_service_and_flips_when_one_stops(
    dashboard: Dashboard, page: Page, tmp_path: Path
) -> None:
    hum = tmp_path / "hum.wav"
    write_wav(hum, tone(1.0, 220.0, amplitude=3000.0))
    mic = MicService(MicSettings(file=hum, loop_file=True, satellite_id="kitchen"))
    await dashboard.services.start(mic)
    for name in ("memory", "tts", "router", "ui-web", "mic"):
        await page.locator(f'.svc[data-service="{name}"][data-condition="ok"]').wait_for()
    await page.locator('.level[data-satellite="kitchen"]').wait_for()  # its level meter
    await screenshot(page, "dashboard-health")
    await dashboard.services.stop("mic")
    await page.locator('.svc[data-service="mic"][data-condition="stopped"]').wait_for()
    assert await page.locator('.svc[data-service="router"]').get_attribute("data-condition") == "ok"


async def test_message_published_on_the_bus_appears_in_the_event_stream(
    dashboard: Dashboard, page: Page
) -> None:
    await page.click('[data-view="events"]')
    client = dashboard.broker.bus("cli", health=False)  # an outside client, e.g. a script
    fact = MemoryFact(text="The spare key is under the blue flowerpot", satellite="browser")
    async with running(client):
        await client.publish(TOPIC_MEMORY_REMEMBER, fact)
        row = page.locator('.event[data-topic="memory/remember"]', has_text="blue flowerpot")
        await row.wait_for()
        await screenshot(page, "events")
        await page.fill("#event-filter", "memory/#")
        await row.wait_for()
        assert (
            await page.locator(".event").count()
            == await page.locator('.event[data-topic^="memory/"]').count()
        )  # the filter hides every other topic
        await page.click("#event-pause")
        await client.publish(TOPIC_MEMORY_REMEMBER, MemoryFact(text="The boat is blue"))
        await page.locator("#event-count", has_text="paused · 1 new").wait_for()
        assert await page.locator(".event", has_text="The boat is blue").count() == 0
        await page.click("#event-pause")
        await page.locator(".event", has_text="The boat is blue").wait_for()


async def test_trait_slider_changes_the_retained_character(
    dashboard: Dashboard, page: Page
) -> None:
    await page.click('[data-view="persona"]')
    slider = page.locator('input[type=range][data-trait="humor"]')
    await slider.wait_for()
    target = 15 if int(await slider.input_value()) != 15 else 85
    await slider.fill(str(target))
    await page.locator(
        '.trait[data-trait="humor"]:not(.pending) output', has_text=str(target)
    ).wait_for()
    probe = dashboard.broker.bus("cli", health=False)  # subscribes anew: gets the retained one
    seen = Collector()
    probe.subscribe(TOPIC_CHARACTER_CURRENT, seen)
    async with running(probe):
        await seen.wait_for(lambda m: m.data.traits.get("humor") == target)
    await screenshot(page, "persona")


async def test_memory_search_finds_an_earlier_turn(page: Page) -> None:
    await ask(page, "what time is it")
    await page.locator(".line.tars.done .bubble", has_text=CLOCK).last.wait_for(timeout=20_000)
    await page.click('[data-view="memory"]')
    await page.fill("#memory-query", "what time is it")
    await page.click("#memory-form button[type=submit]")
    await page.locator("#memory-results li", has_text="what time is it").first.wait_for()
    await screenshot(page, "memory")


async def test_configuration_is_shown_with_secrets_redacted(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-test-not-for-your-eyes")
    await page.click('[data-view="config"]')
    row = page.locator(".config tr", has_text="LLM_API_KEY")
    await row.wait_for()
    assert "********" in await row.inner_text()
    assert "sk-test-not-for-your-eyes" not in await page.content()
    await screenshot(page, "config")
