"""TLS to the broker: services and the `tars` command over a Mosquitto mutual-TLS listener.

The certificates are made for the test (openssl); the broker refuses clients without a
certificate from the test CA. Every process gets its broker settings from the environment
only (``MQTT_URL=mqtts://...`` and ``MQTT_TLS_*``), the way a deployment configures them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.certs import make_certificates
from tests.support.collect import Collector

from tars.contracts import tts
from tars.contracts.health import health_topic

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    """A Mosquitto that speaks only TLS and requires a client certificate from the test CA."""
    certificates = make_certificates(tmp_path_factory.mktemp("certs"))
    broker = TestBroker(
        tmp_path_factory.mktemp("tls-broker"), tls=certificates, require_certificate=True
    )
    broker.start()
    yield broker
    broker.stop()


def environment(data_dir: Path, mqtt: dict[str, str]) -> dict[str, str]:
    """This process's environment with only the given MQTT_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MQTT_")}
    env.update(mqtt, TARS_DATA_DIR=str(data_dir), TARS_LOG_FORMAT="json")
    return env


async def tars(env: dict[str, str], *arguments: str) -> tuple[int, str, str]:
    """Run the `tars` command; its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tars", *arguments,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_a_service_and_the_cli_round_trip_over_mutual_tls(
    tls_broker: TestBroker, tmp_path: Path
) -> None:
    probe = tls_broker.bus("ui", health=False)
    healths, says = Collector(), Collector()
    probe.subscribe(health_topic("router"), healths)
    probe.subscribe(tts.TOPIC_TTS_SAY, says)
    router = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tars", "run", "router",
        cwd=REPO, env=environment(tmp_path, tls_broker.env("router")),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with running(probe):
            await healths.wait_for(lambda m: m.data.ok and m.data.event == "ready", 30)
            code, stdout, stderr = await tars(
                environment(tmp_path, tls_broker.env("cli")), "ask", "say", "hello", "over", "TLS"
            )
            said = await says.wait_for(lambda m: m.data.text == "hello over TLS")
    finally:
        router.terminate()
        _, router_log = await asyncio.wait_for(router.communicate(), 15)
    assert code == 0, stdout + stderr
    assert stdout.splitlines()[-1] == "hello over TLS"
    assert said.envelope.source == "router"
    assert router.returncode == 0, router_log.decode()[-2000:]
    assert "mqtts://router:***@127.0.0.1" in router_log.decode()  # the log says it is TLS


async def test_clients_without_the_ca_or_a_certificate_are_refused_with_the_reason(
    tls_broker: TestBroker, tmp_path: Path
) -> None:
    no_ca = {"MQTT_URL": tls_broker.url("cli")}  # trusts only the system's CAs
    no_certificate = tls_broker.env("cli", client_certificate=False)
    untrusted, anonymous = await asyncio.gather(
        tars(environment(tmp_path, no_ca), "ask", "say", "never"),
        tars(environment(tmp_path, no_certificate), "ask", "say", "never"),
    )
    assert untrusted[0] == anonymous[0] == 1
    assert "cannot reach the broker" in untrusted[1]
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted[1]
    assert "set MQTT_TLS_CA_FILE to the CA that signed it" in untrusted[1]
    assert "CERTIFICATE_REQUIRED" in anonymous[1]
    assert "set MQTT_TLS_CERT_FILE" in anonymous[1]


async def test_a_missing_tls_file_is_named_before_anything_connects(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    env = environment(
        tmp_path, {"MQTT_URL": "mqtts://127.0.0.1:9", "MQTT_TLS_CA_FILE": str(missing)}
    )
    (status_code, _, status_err), (run_code, _, run_err) = await asyncio.gather(
        tars(env, "status"), tars(env, "run", "router")
    )
    assert status_code == run_code == 2
    assert f"MQTT_TLS_CA_FILE: no such file: {missing}" in status_err
    assert f"MQTT_TLS_CA_FILE: no such file: {missing}" in run_err
