"""aiomqtt's client, with what it leaves out: the broker's CONNACK and paho's socket errors."""

from __future__ import annotations

import logging
from typing import Any

import aiomqtt
from paho.mqtt.properties import Properties


class SocketErrors(logging.Handler):
    """Keeps paho's last socket error: the only place a TLS alert from the broker shows.

    A broker refusing the client's certificate (or the lack of one) closes the TLS session
    after the handshake; aiomqtt then only reports a time-out, paho logs the reason.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.detail: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the record's message."""
        self.detail = record.getMessage()


class ConnackClient(aiomqtt.Client):
    """aiomqtt's client, keeping the CONNACK properties (what the broker supports)."""

    connack_properties: Properties | None = None

    def _on_connect(
        self,
        client: Any,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Properties | None = None,
    ) -> None:
        self.connack_properties = properties
        super()._on_connect(client, userdata, flags, reason_code, properties)
