"""TLS to the broker: the client context from MQTT_TLS_* files, and plain-words failures."""

from __future__ import annotations

import ssl
from pathlib import Path

TLS_SCHEMES = ("mqtts", "ssl")
"""URL schemes that turn TLS on (``ssl://`` is paho's spelling of ``mqtts://``)."""


class TlsError(ValueError):
    """A TLS file is missing or unreadable; the message names the variable to fix."""


def tls_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    """A client context that verifies the broker (and its host name) and may present a cert.

    Raises:
        TlsError: a file is missing or not a usable PEM certificate or key.
    """
    _require_file("MQTT_TLS_CA_FILE", ca_file)
    _require_file("MQTT_TLS_CERT_FILE", cert_file)
    _require_file("MQTT_TLS_KEY_FILE", key_file)
    if key_file is not None and cert_file is None:
        raise TlsError("MQTT_TLS_KEY_FILE is set without MQTT_TLS_CERT_FILE")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except (ssl.SSLError, OSError) as err:
        raise TlsError(f"MQTT_TLS_CA_FILE {ca_file}: not a PEM CA certificate ({err})") from err
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError) as err:
            raise TlsError(
                f"MQTT_TLS_CERT_FILE {cert_file}: not a PEM certificate with its key ({err})"
            ) from err
    return context


def _require_file(variable: str, path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise TlsError(f"{variable}: no such file: {path}")


def explain_connect_error(detail: str) -> str:
    """``detail`` (a failed connection) plus what to change, for the TLS failures we know."""
    hints = (
        (
            "CERTIFICATE_VERIFY_FAILED",
            "the broker's certificate is not trusted or does not name this host: set "
            "MQTT_TLS_CA_FILE to the CA that signed it and use the name it was issued for",
        ),
        (
            "CERTIFICATE_REQUIRED",
            "the broker requires a client certificate: set MQTT_TLS_CERT_FILE (and "
            "MQTT_TLS_KEY_FILE)",
        ),
        ("WRONG_VERSION_NUMBER", "the broker does not speak TLS on this port: use mqtt://"),
        ("UNKNOWN_CA", "the broker does not trust the client certificate's CA"),
    )
    for marker, hint in hints:
        if marker in detail.upper():
            return f"{detail} ({hint})"
    return detail
