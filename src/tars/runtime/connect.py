"""Resolve broker settings for a service or the CLI (env first, then a `tars up` broker)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tars.runtime.broker import BrokerConfig
from tars.runtime.settings import MqttSettings, RuntimeSettings


def broker_dir(runtime: RuntimeSettings) -> Path:
    """Where `tars up` keeps its generated broker."""
    return runtime.data_dir / "broker"


def private_broker_settings(url: str, **fields: Any) -> MqttSettings:
    """Settings for a broker TARS generated on loopback: plain MQTT, whatever MQTT_TLS_* says.

    The other ``MQTT_*`` variables still apply; ``fields`` override them.
    """
    no_tls: dict[str, Any] = {"tls_ca_file": None, "tls_cert_file": None, "tls_key_file": None}
    return MqttSettings(url=SecretStr(url), **{**no_tls, **fields})


def mqtt_settings_for(user: str, runtime: RuntimeSettings) -> MqttSettings:
    """MQTT settings for ``user``.

    ``MQTT_URL`` from the environment wins (with its ``MQTT_TLS_*`` files); otherwise, when
    `tars up` generated a broker in the data directory, ``user``'s credentials for it are used.
    """
    if "MQTT_URL" in os.environ:
        return MqttSettings()
    generated = BrokerConfig.load(broker_dir(runtime))
    if generated is None or user not in generated.passwords:
        return MqttSettings()
    return private_broker_settings(generated.url(user))
