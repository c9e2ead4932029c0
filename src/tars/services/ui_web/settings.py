"""Settings of the web UI (environment variables prefixed ``UI_WEB_``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


class UiWebSettings(TarsSettings):
    """Where the dashboard listens, how it is protected, and the bounds on what clients send."""

    model_config = SettingsConfigDict(env_prefix="UI_WEB_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback (e.g. 0.0.0.0) requires the token."""
    port: int = Field(default=5010, ge=0, le=65535)
    """TCP port (py-tars ui-web: 5010; 0 picks a free one)."""
    token: SecretStr | None = None
    """Access token; unset while bound beyond loopback: generated once, kept in the data dir."""
    satellite: str = Field(default="browser", pattern=r"^[a-z0-9_-]{1,32}$")
    """Satellite id the page talks and listens as unless the person picks another."""
    tls_certfile: Path | None = None
    """PEM certificate for HTTPS (browsers allow the microphone only on HTTPS or loopback)."""
    tls_keyfile: Path | None = None
    """PEM private key of ``tls_certfile``."""
    tls_self_signed: bool = False
    """Without a certificate, make a self-signed one (openssl) in the data dir and use HTTPS."""
    max_clients: int = Field(default=8, ge=1, le=256)
    """Browser connections served at once; more are refused."""
    client_queue: int = Field(default=2000, ge=10, le=100_000)
    """Messages buffered per connection before the oldest are dropped (messages)."""
    max_ws_message_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    """Largest WebSocket message accepted from a browser (bytes); larger ones close it."""
    max_text_chars: int = Field(default=1000, ge=1, le=10_000)
    """Longest typed turn or memory query (characters)."""
    max_audio_frame_ms: int = Field(default=100, ge=10, le=500)
    """Longest microphone frame a browser may send in one message (ms of 16 kHz s16le)."""
    audio_burst_s: float = Field(default=2.0, gt=0, le=10)
    """Microphone audio a browser may send ahead of real time before frames are dropped (s)."""
    control_rate_per_s: float = Field(default=10.0, gt=0, le=1000)
    """Typed turns, trait changes and searches allowed per second per connection."""
    max_satellites: int = Field(default=8, ge=1, le=64)
    """Browser microphones streaming at once (over all connections)."""
    event_history: int = Field(default=300, ge=0, le=10_000)
    """Recent bus events replayed to a page when it connects (events)."""
    event_max_bytes: int = Field(default=4000, ge=256, le=1_000_000)
    """Largest payload shown whole in the event stream; bigger ones are cut (bytes of JSON)."""
    memory_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """How long a memory search waits for the memory service (s)."""

    def beyond_loopback(self) -> bool:
        """Whether the UI listens on anything other than a loopback address."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return True  # a host name: assume it is reachable from elsewhere
