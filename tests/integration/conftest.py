"""Broker fixtures for tests that must pass on every MQTT v5 broker, not only Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.broker import BrokerUnderTest, MakeBroker, TestBroker
from tests.support.ejabberd import EjabberdBroker

BROKERS = [
    pytest.param("mosquitto", id="mosquitto"),
    pytest.param("ejabberd", id="ejabberd", marks=pytest.mark.broker_ejabberd),
]
"""The brokers a portable test runs on: the one `tars up` generates, and a second one."""


@pytest.fixture(scope="session")
def ejabberd_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdBroker]:
    """One ejabberd (mod_mqtt) for the whole session: the Erlang node takes a few seconds."""
    test_broker = EjabberdBroker(tmp_path_factory.mktemp("ejabberd"))
    test_broker.start()
    yield test_broker
    test_broker.stop()


@pytest.fixture(params=BROKERS)
def any_broker(request: pytest.FixtureRequest) -> BrokerUnderTest:
    """The session's Mosquitto, then the session's ejabberd."""
    name = "mqtt_broker" if request.param == "mosquitto" else "ejabberd_broker"
    broker: BrokerUnderTest = request.getfixturevalue(name)
    return broker


@pytest.fixture(params=BROKERS)
def make_broker(request: pytest.FixtureRequest) -> MakeBroker:
    """Makes (unstarted) a broker of its own in a folder: a Mosquitto, then an ejabberd."""
    if request.param == "mosquitto":
        return TestBroker
    return EjabberdBroker
