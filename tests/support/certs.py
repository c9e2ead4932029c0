"""Certificates made for a test with the openssl command: a CA, a broker's and a client's."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]


@dataclass(frozen=True)
class TestCertificates:
    """PEM files: a CA, a broker certificate for 127.0.0.1/localhost, a client certificate."""

    __test__ = False

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(directory: Path, client_name: str = "tars-client") -> TestCertificates:
    """A fresh CA in ``directory`` and two certificates it signed (P-256 keys, 2 days)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl(
        ["-subj", "/CN=TARS test CA", "-keyout", ca_key, "-out", ca],
        ["keyUsage=critical,keyCertSign,cRLSign"],
    )
    signed_by_ca: list[str | Path] = ["-CA", ca, "-CAkey", ca_key]
    server_cert, server_key = directory / "broker.crt", directory / "broker.key"
    _openssl(
        [*signed_by_ca, "-subj", "/CN=127.0.0.1", "-keyout", server_key, "-out", server_cert],
        [
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "basicConstraints=critical,CA:FALSE",
            "extendedKeyUsage=serverAuth",
        ],
    )
    client_cert, client_key = directory / "client.crt", directory / "client.key"
    _openssl(
        [*signed_by_ca, "-subj", f"/CN={client_name}", "-keyout", client_key, "-out", client_cert],
        ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"],
    )
    return TestCertificates(ca, server_cert, server_key, client_cert, client_key)


def _openssl(arguments: list[str | Path], extensions: list[str]) -> None:
    command: list[str | Path] = ["openssl", "req", "-x509", *_EC_KEY, *arguments]
    for extension in extensions:
        command += ["-addext", extension]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
