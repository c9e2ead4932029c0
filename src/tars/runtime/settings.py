"""Settings shared by every service, parsed once from the environment."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tars.contracts.v1 import WireMode
from tars.runtime.tls import TLS_SCHEMES, TlsError, tls_context


class TarsSettings(BaseSettings):
    """Base of every settings model: frozen, env-only, field docstrings become descriptions."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)


class MqttSettings(TarsSettings):
    """How to reach the broker (env prefix ``MQTT_``)."""

    model_config = SettingsConfigDict(env_prefix="MQTT_")

    url: SecretStr = SecretStr("mqtt://127.0.0.1:1883")
    """Broker URL, ``mqtt://user:password@host:port``, or ``mqtts://`` for TLS (default port
    8883); a secret because it holds the password."""
    tls_ca_file: Path | None = None
    """mqtts:// only: CA certificate (PEM) that signed the broker's certificate; unset: the
    system's trusted CAs."""
    tls_cert_file: Path | None = None
    """mqtts:// only: client certificate (PEM) for a broker that requires one (mutual TLS)."""
    tls_key_file: Path | None = None
    """mqtts:// only: private key (PEM) of MQTT_TLS_CERT_FILE; unset: the key is in that file."""
    client_id: str = ""
    """Client id prefix; empty means ``tars-<service>``; a random suffix is always added."""
    keepalive_s: int = Field(default=30, ge=5)
    """MQTT keepalive, seconds."""
    reconnect_min_s: float = Field(default=0.2, gt=0)
    """First reconnect delay, seconds."""
    reconnect_max_s: float = Field(default=5.0, gt=0)
    """Longest reconnect delay, seconds."""
    publish_timeout_s: float = Field(default=30.0, gt=0)
    """How long a QoS 1 publish waits for a connection before failing, seconds."""
    session_expiry_s: int = Field(default=300, ge=0)
    """How long the broker keeps a disconnected session's subscriptions and queue, seconds."""
    dedupe_ttl_s: float = Field(default=30.0, ge=0)
    """How long a seen (topic, id, seq) is remembered for de-duplication, seconds."""
    dedupe_max_entries: int = Field(default=4096, ge=0)
    """How many (topic, id, seq) keys are remembered."""
    wire: WireMode = "tars"
    """Payloads published: tars (additions in the JSON) or v1 (py-tars v1 JSON on py-tars
    topics, TARS additions in the tars-ext MQTT v5 user property; for py-tars clients)."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        parsed = urlsplit(value.get_secret_value())
        if parsed.scheme not in ("mqtt", "tcp", *TLS_SCHEMES) or not parsed.hostname:
            raise ValueError(
                "MQTT_URL must look like mqtt://[user:password@]host[:port] "
                "(or mqtts://... for TLS)"
            )
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> MqttSettings:
        # Checked here, not at connect time: a service with a broken TLS setup stops at
        # start with the variable to fix instead of retrying a connection forever.
        files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if not self.uses_tls() and any(files):
            raise ValueError("MQTT_TLS_* files are set but MQTT_URL is not mqtts://")
        if self.uses_tls():
            try:
                tls_context(*files)
            except TlsError as err:
                raise ValueError(str(err)) from err
        return self

    def uses_tls(self) -> bool:
        """Whether the URL asks for TLS (``mqtts://``)."""
        return urlsplit(self.url.get_secret_value()).scheme in TLS_SCHEMES

    def tls_context(self) -> ssl.SSLContext | None:
        """The client TLS context for ``mqtts://`` (server verified, hostname checked), or None.

        Raises:
            TlsError: a certificate or key file cannot be read.
        """
        if not self.uses_tls():
            return None
        return tls_context(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)

    def endpoint(self) -> tuple[str, int, str | None, str | None]:
        """Host, port, username and password from the URL."""
        parsed = urlsplit(self.url.get_secret_value())
        username = unquote(parsed.username) if parsed.username else None
        password = unquote(parsed.password) if parsed.password else None
        default_port = 8883 if self.uses_tls() else 1883
        return parsed.hostname or "127.0.0.1", parsed.port or default_port, username, password

    def redacted_url(self) -> str:
        """The URL with the password masked, safe for logs."""
        host, port, username, _ = self.endpoint()
        user = f"{username}:***@" if username else ""
        scheme = "mqtts" if self.uses_tls() else "mqtt"
        return f"{scheme}://{user}{host}:{port}"


class RuntimeSettings(TarsSettings):
    """Process-wide settings (env prefix ``TARS_``)."""

    model_config = SettingsConfigDict(env_prefix="TARS_")

    data_dir: Path = Path.home() / ".local" / "share" / "tars"
    """Where databases, caches, generated broker config and models live."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""
    log_format: Literal["json", "text"] = "json"
    """json for machines, text for people."""
    heartbeat_s: float = Field(default=10.0, gt=0)
    """How often retained health is refreshed, seconds."""
    metrics_interval_s: float = Field(default=15.0, gt=0)
    """How often metrics are published, seconds."""
    satellites: str = ""
    """Satellite ids this deployment serves, "|"- or comma-separated; empty: any valid id.
    Audio from other ids gets no state in wake or stt (refused and counted)."""


class ConversationSettings(TarsSettings):
    """The conversation clock shared by stt and router (env prefix ``TARS_``).

    Both services read this one model, so the windows and the wake phrases they act on can
    never disagree.
    """

    model_config = SettingsConfigDict(env_prefix="TARS_")

    wake_phrases: str = "hey tars|okay nabu|ok nabu|hey nabu|hey jarvis|hey mycroft|alexa"
    """Wake phrases stripped from the start of a transcript, "|"-separated."""
    wake_window_s: float = Field(default=8.0, gt=0)
    """After a wake word, how long a request may take to start, seconds (py-tars 8)."""
    followup_window_s: float = Field(default=10.0, ge=0)
    """After a spoken reply, how long a follow-up needs no wake word, seconds (0 = off)."""
    continuation_window_s: float = Field(default=1.5, ge=0)
    """Speech starting this soon after a final continues that turn, seconds (0 = off)."""
    live_mode: bool = False
    """Start in live mode: every utterance is addressed to TARS, no wake word needed."""

    def phrases(self) -> tuple[str, ...]:
        """The wake phrases as a tuple of stripped, non-empty strings."""
        return tuple(part.strip() for part in self.wake_phrases.split("|") if part.strip())


def describe_settings_error(error: ValidationError, settings_class: type[BaseSettings]) -> str:
    """Turn a settings validation error into lines naming the environment variables to fix."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a check across fields names its variables itself
            lines.append(f"  {item['msg'].removeprefix('Value error, ')}")
            continue
        field = str(item["loc"][0])
        lines.append(f"  {prefix}{field.upper()}: {item['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)
