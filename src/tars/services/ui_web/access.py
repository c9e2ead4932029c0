"""Who may use the web UI: the token, the Host and Origin checks, HTTPS files, the address.

Bound to loopback, the UI needs no token, but still accepts only loopback Host names (so
a web page elsewhere cannot reach it by DNS rebinding) and same-origin WebSockets. Bound
beyond loopback, the page, the API and the WebSocket all require the token: in the
``tars_token`` cookie the page sets after ``/?token=...``, an ``Authorization: Bearer``
header, or a ``token`` query parameter.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from tars.runtime.settings import describe_settings_error
from tars.services.ui_web.settings import UiWebSettings

TOKEN_COOKIE = "tars_token"
"""Cookie holding the token once the page was opened with ``?token=``."""
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_OPENSSL_TIMEOUT_S = 60.0


def state_dir(data_dir: Path) -> Path:
    """Where the web UI keeps its generated token and certificate."""
    return data_dir / "ui-web"


def resolve_token(settings: UiWebSettings, data_dir: Path) -> str | None:
    """The token in force: the configured one, else a generated one when bound beyond loopback.

    The generated token is written once (mode 0600) and reused, so ``tars up`` can print
    the address before the service starts and a restart keeps open pages working.
    """
    if settings.token is not None and settings.token.get_secret_value():
        return settings.token.get_secret_value()
    if not settings.beyond_loopback():
        return None
    path = state_dir(data_dir) / "token"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


class Access:
    """Checks requests against the token and the listening address."""

    def __init__(self, token: str | None, *, beyond_loopback: bool) -> None:
        """Check against ``token`` (None: no token needed)."""
        self.token = token
        self.beyond_loopback = beyond_loopback

    @property
    def required(self) -> bool:
        """Whether requests must present the token."""
        return self.token is not None

    def allowed(self, presented: str | None) -> bool:
        """Whether ``presented`` unlocks the UI (always true when no token is needed)."""
        if self.token is None:
            return True
        return presented is not None and secrets.compare_digest(
            presented.encode(), self.token.encode()
        )

    def host_ok(self, host_header: str | None) -> bool:
        """Bound to loopback, only loopback Host names are served (DNS-rebinding guard)."""
        if self.beyond_loopback:
            return True
        if not host_header:
            return False
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return name in _LOOPBACK_NAMES

    @staticmethod
    def origin_ok(origin: str | None, host_header: str | None) -> bool:
        """A browser's WebSocket must come from a page of this server (no cross-site use)."""
        if origin is None:
            return True  # not a browser: the token (or loopback) is the whole check
        return bool(host_header) and urlsplit(origin).netloc == host_header


def tls_files(settings: UiWebSettings, data_dir: Path) -> tuple[Path, Path] | None:
    """Certificate and key to serve HTTPS with, making a self-signed pair if asked.

    Raises:
        RuntimeError: a self-signed certificate was asked for and openssl failed.
    """
    if settings.tls_certfile is not None and settings.tls_keyfile is not None:
        return settings.tls_certfile, settings.tls_keyfile
    if not settings.tls_self_signed:
        return None
    directory = state_dir(data_dir)
    cert, key = directory / "cert.pem", directory / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
        "-subj", "/CN=tars", "-addext", f"subjectAltName=DNS:{socket.gethostname()},DNS:localhost",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=_OPENSSL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as err:
        raise RuntimeError(
            f"UI_WEB_TLS_SELF_SIGNED: openssl could not make a certificate: {err}"
        ) from err
    key.chmod(0o600)
    return cert, key


def address(settings: UiWebSettings, token: str | None, *, https: bool) -> str:
    """The URL a person opens (with the token when one is needed)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    query = f"?token={token}" if token else ""
    return f"{'https' if https else 'http'}://{host}:{settings.port}/{query}"


def startup_line(data_dir: Path) -> tuple[str, bool]:
    """What `tars up` prints about the web UI, and whether the service can start at all."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        return f"web UI: not installed ({', '.join(missing)}): uv sync --extra ui-web", False
    try:
        settings = UiWebSettings()
    except ValidationError as err:
        return f"web UI: {describe_settings_error(err, UiWebSettings)}", False
    token = resolve_token(settings, data_dir)
    https = settings.tls_certfile is not None or settings.tls_self_signed
    if settings.port == 0:
        return "web UI: on a free port (UI_WEB_PORT=0): the ui-web log line names it", True
    line = f"web UI: {address(settings, token, https=https)}"
    if settings.beyond_loopback() and not https:
        line += " (other machines can use it; for their microphone set UI_WEB_TLS_SELF_SIGNED=1)"
    return line, True
