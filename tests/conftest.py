"""Shared fixtures: a real Mosquitto broker and the embedded LLM, once per test session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.broker import TestBroker

if TYPE_CHECKING:
    from tars.services.llm.localmodel import MistralRsModel


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
def qwen_model(tmp_path_factory: pytest.TempPathFactory) -> MistralRsModel:
    """Qwen2.5-Coder-1.5B joined from its packages (sha256-checked) and loaded once (~3.5 GB)."""
    from tars.services.llm.localmodel import MistralRsModel
    from tars.services.llm.modelfiles import QWEN, resolve_model

    before, _ = _rss_mib()
    started = time.monotonic()
    path = resolve_model(QWEN, tmp_path_factory.mktemp("llm-data"))
    joined = time.monotonic()
    model = MistralRsModel(path)
    after, peak = _rss_mib()
    print(
        f"\nqwen2.5-coder-1.5b join+sha256 {joined - started:.2f} s, "
        f"load {time.monotonic() - joined:.2f} s, RSS {before:.0f} -> {after:.0f} MiB "
        f"(peak {peak:.0f} MiB)"
    )
    return model
