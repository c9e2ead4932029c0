"""The terminal dashboard, driven by textual's pilot against the real router over a broker."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.browser import REPO
from tests.support.stack import ServiceStack
from textual.pilot import Pilot
from textual.widgets import DataTable

from tars.runtime.settings import RuntimeSettings
from tars.services.router.service import build as build_router
from tars.services.ui.app import TarsDashboard
from tars.services.ui.service import UiService
from tars.services.ui.settings import UiSettings

pytestmark = [pytest.mark.e2e, pytest.mark.broker]
ARTIFACTS = REPO / "test-artifacts" / "ui"


async def shown(
    app: TarsDashboard, pilot: Pilot[None], predicate: Callable[[list[str]], bool]
) -> list[str]:
    """Wait (on the app's change event) until the drawn conversation satisfies ``predicate``."""
    deadline = time.monotonic() + 20.0
    while not predicate(app.shown_lines()):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not shown: {app.shown_lines()}"
        app.changed.clear()
        try:
            await asyncio.wait_for(app.changed.wait(), remaining)
        except TimeoutError:
            continue
        await pilot.pause()
    return app.shown_lines()


async def test_typed_question_shows_the_reply(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    service = UiService(UiSettings(satellite="tui"))
    bus = mqtt_broker.bus("ui")
    service.attach(bus)
    app = service.app
    async with ServiceStack(mqtt_broker) as stack, running(bus):
        await stack.start(build_router(RuntimeSettings(data_dir=tmp_path)))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.click("#ask")
            await pilot.press(*"what time is it", "enter")
            lines = await shown(
                app, pilot, lambda lines: any(re.search(r"TARS \[tui\] It is \d", x) for x in lines)
            )
            assert any("You [tui] what time is it" in line for line in lines)
            table = app.query_one("#health", DataTable)
            assert table.row_count >= 1  # router (and this ui) report health
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            app.save_screenshot("terminal.svg", str(ARTIFACTS))
    print(f"\n{lines}")
