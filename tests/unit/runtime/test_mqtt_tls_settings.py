"""TLS settings for the broker: mqtts:// URLs, the MQTT_TLS_* files and their errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from tests.support.certs import TestCertificates, make_certificates

from tars.runtime.broker import BrokerConfig
from tars.runtime.connect import mqtt_settings_for
from tars.runtime.settings import MqttSettings, RuntimeSettings, describe_settings_error
from tars.runtime.tls import explain_connect_error


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def settings(url: str, **fields: object) -> MqttSettings:
    return MqttSettings(url=SecretStr(url), **fields)  # type: ignore[arg-type]


def settings_error(url: str, **fields: object) -> str:
    with pytest.raises(ValidationError) as raised:
        settings(url, **fields)
    return describe_settings_error(raised.value, MqttSettings)


def test_plain_url_has_no_tls_and_port_1883() -> None:
    plain = settings("mqtt://tts:pw@broker.lan")
    assert not plain.uses_tls()
    assert plain.tls_context() is None
    assert plain.endpoint() == ("broker.lan", 1883, "tts", "pw")


def test_mqtts_url_verifies_the_broker_on_port_8883() -> None:
    secure = settings("mqtts://tts:pw@broker.lan")
    assert secure.uses_tls()
    assert secure.endpoint() == ("broker.lan", 8883, "tts", "pw")
    assert secure.redacted_url() == "mqtts://tts:***@broker.lan:8883"
    context = secure.tls_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_ca_and_client_certificate_load(certificates: TestCertificates) -> None:
    secure = settings(
        "mqtts://broker.lan:9883",
        tls_ca_file=certificates.ca,
        tls_cert_file=certificates.client_cert,
        tls_key_file=certificates.client_key,
    )
    assert secure.endpoint()[1] == 9883
    context = secure.tls_context()
    assert context is not None
    assert any("TARS test CA" in str(ca["subject"]) for ca in context.get_ca_certs())


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    message = settings_error("mqtts://broker.lan", tls_ca_file=missing)
    assert f"MQTT_TLS_CA_FILE: no such file: {missing}" in message


def test_a_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert "MQTT_TLS_CA_FILE" in settings_error("mqtts://broker.lan", tls_ca_file=junk)
    message = settings_error("mqtts://broker.lan", tls_cert_file=junk)
    assert "MQTT_TLS_CERT_FILE" in message


def test_tls_files_without_mqtts_are_refused(certificates: TestCertificates) -> None:
    message = settings_error("mqtt://broker.lan", tls_ca_file=certificates.ca)
    assert "MQTT_TLS_* files are set but MQTT_URL is not mqtts://" in message


def test_a_key_without_its_certificate_is_refused(certificates: TestCertificates) -> None:
    message = settings_error("mqtts://broker.lan", tls_key_file=certificates.client_key)
    assert "MQTT_TLS_KEY_FILE is set without MQTT_TLS_CERT_FILE" in message


def test_known_tls_failures_get_a_hint() -> None:
    untrusted = explain_connect_error("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "set MQTT_TLS_CA_FILE" in untrusted
    no_certificate = explain_connect_error("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] alert")
    assert "set MQTT_TLS_CERT_FILE" in no_certificate
    assert explain_connect_error("[Errno 111] Connection refused") == (
        "[Errno 111] Connection refused"
    )


def test_a_generated_broker_stays_plain_whatever_tls_the_environment_sets(
    certificates: TestCertificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MQTT_URL", raising=False)
    monkeypatch.setenv("MQTT_TLS_CA_FILE", str(certificates.ca))
    with pytest.raises(ValidationError, match="MQTT_URL is not mqtts://"):
        MqttSettings()  # TLS asked for, but no broker to use it with
    (tmp_path / "broker").mkdir()
    BrokerConfig(tmp_path / "broker", 41883, {"router": "pw"}).save()
    generated = mqtt_settings_for("router", RuntimeSettings(data_dir=tmp_path))
    assert generated.endpoint() == ("127.0.0.1", 41883, "router", "pw")
    assert generated.tls_context() is None
    monkeypatch.setenv("MQTT_URL", "mqtts://router:pw@broker.lan")
    external = mqtt_settings_for("router", RuntimeSettings(data_dir=tmp_path))
    assert external.tls_ca_file == certificates.ca
    assert external.endpoint() == ("broker.lan", 8883, "router", "pw")
