"""Shared fixtures: a real Mosquitto broker per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import TestBroker


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    """One generated broker for the whole session (tests use distinct topics or ids)."""
    test_broker = TestBroker(tmp_path_factory.mktemp("broker"))
    test_broker.start()
    yield test_broker
    test_broker.stop()
