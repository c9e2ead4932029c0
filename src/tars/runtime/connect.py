"""Resolve broker settings for a service or the CLI (env first, then a `tars up` broker)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from tars.runtime.broker import BrokerConfig
from tars.runtime.settings import MqttSettings, RuntimeSettings


def broker_dir(runtime: RuntimeSettings) -> Path:
    """Where `tars up` keeps its generated broker."""
    return runtime.data_dir / "broker"


def mqtt_settings_for(user: str, runtime: RuntimeSettings) -> MqttSettings:
    """MQTT settings for ``user``.

    ``MQTT_URL`` from the environment wins; otherwise, when `tars up` generated a
    broker in the data directory, ``user``'s credentials for it are used.
    """
    settings = MqttSettings()
    if "MQTT_URL" in os.environ:
        return settings
    generated = BrokerConfig.load(broker_dir(runtime))
    if generated is None or user not in generated.passwords:
        return settings
    return settings.model_copy(update={"url": SecretStr(generated.url(user))})
