"""Headless Debian Chromium driven by Playwright, and screenshots kept as test artefacts.

Playwright never downloads a browser here: it drives the Chromium that `scripts/setup.sh`
installs from Debian (``/usr/bin/chromium``, or ``TARS_CHROMIUM``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Playwright

from tests.support.png import assert_not_blank

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TARS_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TARS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui-web"
"""Where screenshots are kept (``TARS_TEST_ARTIFACTS`` overrides the folder)."""
_FLAGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no network here: no update or sync checks
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def require_chromium() -> Path:
    """The Chromium binary, or a failure that says how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `bash scripts/setup.sh` (Debian chromium)"
        )
    return CHROMIUM


async def launch(playwright: Playwright, fake_audio: Path | None = None) -> Browser:
    """Headless Chromium; with ``fake_audio``, its microphone plays that WAV file once."""
    args = list(_FLAGS)
    if fake_audio is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_audio}%noloop",
        ]
    return await playwright.chromium.launch(
        executable_path=str(require_chromium()), headless=True, args=args
    )


async def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the page as an artefact and check it is not blank."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    data = await page.screenshot(path=str(target))
    assert_not_blank(data)
    return target
