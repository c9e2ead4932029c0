"""Shared fixtures: a real Mosquitto broker and the embedded LLM, once per test session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.broker import TestBroker

if TYPE_CHECKING:
    from tars.services.llm.localmodel import LocalModel


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    """One generated broker for the whole session (tests use distinct topics or ids)."""
    test_broker = TestBroker(tmp_path_factory.mktemp("broker"))
    test_broker.start()
    yield test_broker
    test_broker.stop()


def _rss_mib() -> tuple[float, float]:
    """Current and peak resident memory of this process, MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


@pytest.fixture(scope="session")
def qwen_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModel]:
    """Qwen2.5-Coder-1.5B joined from its packages (sha256-checked) and loaded once (~1.3 GB).

    It runs on llama.cpp with the service's default threads and context window.
    """
    from tars.services.llm.factory import load_embedded_model, runtime_options
    from tars.services.llm.modelfiles import QWEN
    from tars.services.llm.settings import LlmSettings

    before, _ = _rss_mib()
    started = time.monotonic()
    options = runtime_options(LlmSettings(provider="embedded"))
    model = load_embedded_model(QWEN, tmp_path_factory.mktemp("llm-data"), options)
    after, peak = _rss_mib()
    print(
        f"\nqwen2.5-coder-1.5b join+sha256+load {time.monotonic() - started:.2f} s, "
        f"RSS {before:.0f} -> {after:.0f} MiB (peak {peak:.0f} MiB)"
    )
    yield model
    model.close()
