"""Real brokers for tests on free loopback ports: Mosquitto (generated users and ACL, TLS).

`BrokerUnderTest` is what tests use of any broker; `TestBroker` is the Mosquitto that
`tars up` would generate, optionally with a TLS listener. ejabberd lives in
``tests/support/ejabberd.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from tars.runtime import broker
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings
from tests.support.certs import TestCertificates


class BrokerProcess(Protocol):
    """A broker child process."""

    def start(self, timeout_s: float = ...) -> None:
        """Start and wait until the broker accepts connections."""

    def stop(self, timeout_s: float = ...) -> None:
        """Stop cleanly (SIGTERM, then SIGKILL)."""

    def kill(self) -> None:
        """SIGKILL (crash simulation)."""

    def running(self) -> bool:
        """Whether the process is alive."""


class BrokerUnderTest:
    """A broker started by a test plus helpers to make buses and environments for its users."""

    __test__ = False
    name = "broker"
    config: broker.BrokerConfig
    process: BrokerProcess
    tls: TestCertificates | None = None
    """Set when the broker listens with TLS: clients then use mqtts:// and these files."""

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def url(self, user: str) -> str:
        """MQTT_URL for ``user`` (mqtts:// when the broker speaks TLS)."""
        url = self.config.url(user)
        return url.replace("mqtt://", "mqtts://", 1) if self.tls else url

    def env(self, user: str, *, client_certificate: bool = True) -> dict[str, str]:
        """The MQTT_* environment of a process logging in as ``user``."""
        values = {"MQTT_URL": self.url(user)}
        if self.tls is not None:
            values["MQTT_TLS_CA_FILE"] = str(self.tls.ca)
            if client_certificate:
                values["MQTT_TLS_CERT_FILE"] = str(self.tls.client_cert)
                values["MQTT_TLS_KEY_FILE"] = str(self.tls.client_key)
        return values

    def settings(self, user: str, **overrides: object) -> MqttSettings:
        fields: dict[str, object] = {
            "url": SecretStr(self.url(user)),
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        }
        if self.tls is not None:
            fields.update(
                tls_ca_file=self.tls.ca,
                tls_cert_file=self.tls.client_cert,
                tls_key_file=self.tls.client_key,
            )
        fields.update(overrides)
        return MqttSettings(**fields)  # type: ignore[arg-type]

    def bus(self, user: str, *, health: bool = True) -> MqttBus:
        return MqttBus(user, self.settings(user), health=health)


class TestBroker(BrokerUnderTest):
    """A generated Mosquitto (per-user passwords and ACL), optionally on a TLS listener.

    With ``tls`` the one listener speaks only TLS with the test CA's broker certificate;
    ``require_certificate`` also makes it refuse clients without a certificate from that CA
    (mutual TLS).
    """

    name = "mosquitto"

    def __init__(
        self,
        directory: Path,
        *,
        tls: TestCertificates | None = None,
        require_certificate: bool = False,
    ) -> None:
        self.config = broker.generate(directory)
        self.tls = tls
        if tls is not None:
            _add_tls(self.config.directory / "mosquitto.conf", tls, require_certificate)
        self.process = broker.MosquittoProcess(self.config)


def _add_tls(conf: Path, tls: TestCertificates, require_certificate: bool) -> None:
    # Listener options apply to the last `listener` line, the only one a generated config has.
    lines = [
        f"cafile {tls.ca}",
        f"certfile {tls.server_cert}",
        f"keyfile {tls.server_key}",
        f"require_certificate {'true' if require_certificate else 'false'}",
        "",
    ]
    with conf.open("a") as config:
        config.write("\n".join(lines))


MakeBroker = Callable[[Path], BrokerUnderTest]
"""Makes an unstarted broker of one kind rooted in a folder (a test's own broker)."""


@contextlib.asynccontextmanager
async def running(*buses: MqttBus) -> AsyncIterator[None]:
    """Run buses in the background until the block ends."""
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in buses]
    try:
        for bus in buses:
            await asyncio.wait_for(bus.wait_connected(), 10.0)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
