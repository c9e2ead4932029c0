"""Launch a private Mosquitto broker with per-service passwords and ACLs.

``tars up`` uses it unless ``MQTT_URL`` names an existing broker. The generated
config listens on loopback only, refuses anonymous clients, turns on
TCP_NODELAY, raises the queue limits (the default 1000 silently drops QoS 1
messages to slow subscribers) and persists retained messages and sessions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tars.contracts.registry import CLIENTS, SERVICES, TOPICS
from tars.runtime.procs import die_with_parent

_LOGGER = logging.getLogger(__name__)
_PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own default for $7$ hashes


class BrokerUnavailable(RuntimeError):
    """Mosquitto is not installed or would not start."""


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("mosquitto") or next(
        (
            path
            for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
            if Path(path).exists()
        ),
        None,
    )


def free_port() -> int:
    """A currently free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A mosquitto ``$7$`` (PBKDF2-SHA512) password hash."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS, 64)
    encoded_salt = base64.b64encode(salt).decode()
    encoded_digest = base64.b64encode(digest).decode()
    return f"$7${_PBKDF2_ITERATIONS}${encoded_salt}${encoded_digest}"


def acl_rules(user: str) -> list[str]:
    """Topics ``user`` may publish: its own health/metrics and the topics it produces."""
    writes = [f"system/health/{user}", f"system/metrics/{user}"]
    for spec in TOPICS:
        if user in spec.publishers and spec.pattern not in writes:
            writes.append(spec.pattern)
    return writes


def acl_text(users: Iterable[str]) -> str:
    """A mosquitto ACL file: everyone reads everything, each user writes only its own topics."""
    lines: list[str] = []
    for user in users:
        lines += [f"user {user}", "topic read #"]
        lines += [f"topic write {pattern}" for pattern in acl_rules(user)]
        lines.append("")
    return "\n".join(lines)


def config_text(port: int, directory: Path, host: str = "127.0.0.1") -> str:
    """A mosquitto.conf for a private broker rooted in ``directory``."""
    # Started as root, mosquitto would drop to the "mosquitto" user, which cannot
    # reach files under root's home or a private temp dir; keep the caller's user.
    run_as = ["user root"] if os.geteuid() == 0 else []
    return "\n".join(
        [
            *run_as,
            "per_listener_settings false",
            f"listener {port} {host}",
            "allow_anonymous false",
            f"password_file {directory / 'passwd'}",
            f"acl_file {directory / 'acl'}",
            "set_tcp_nodelay true",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 2",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "",
        ]
    )


@dataclass(frozen=True)
class BrokerConfig:
    """Where a generated broker lives and how each user logs in."""

    directory: Path
    port: int
    passwords: dict[str, str]

    @property
    def host(self) -> str:
        """Listening address."""
        return "127.0.0.1"

    def url(self, user: str) -> str:
        """MQTT_URL for ``user``."""
        return f"mqtt://{user}:{self.passwords[user]}@{self.host}:{self.port}"

    def save(self) -> None:
        """Write the credentials file other tars commands read (mode 0600)."""
        target = self.directory / "credentials.json"
        content = json.dumps({"port": self.port, "passwords": self.passwords})
        target.write_text(content)
        target.chmod(0o600)

    @classmethod
    def load(cls, directory: Path) -> BrokerConfig | None:
        """Read the credentials of a generated broker, if any."""
        source = directory / "credentials.json"
        if not source.exists():
            return None
        stored = json.loads(source.read_text())
        return cls(directory, int(stored["port"]), dict(stored["passwords"]))


def generate(directory: Path, port: int | None = None) -> BrokerConfig:
    """Write config, password file and ACL for every service and client user."""
    directory.mkdir(parents=True, exist_ok=True)
    users = list(SERVICES) + list(CLIENTS)
    passwords = {user: secrets.token_urlsafe(18) for user in users}
    config = BrokerConfig(directory, port or free_port(), passwords)
    (directory / "passwd").write_text(
        "".join(f"{user}:{hash_password(password)}\n" for user, password in passwords.items())
    )
    (directory / "acl").write_text(acl_text(users))
    (directory / "mosquitto.conf").write_text(config_text(config.port, directory))
    (directory / "passwd").chmod(0o600)
    (directory / "acl").chmod(0o600)
    config.save()
    return config


class MosquittoProcess:
    """A mosquitto child process running a generated config."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections.

        Raises:
            BrokerUnavailable: mosquitto is missing or exited during start-up.
        """
        binary = find_mosquitto()
        if binary is None:
            raise BrokerUnavailable(
                "mosquitto is not installed: run `apt-get install mosquitto` "
                "(or point MQTT_URL at an existing broker)"
            )
        conf = self.config.directory / "mosquitto.conf"
        log_path = self.config.directory / "mosquitto.log"
        # Its log goes to a file: a pipe nobody reads would eventually block the broker.
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                detail = log_path.read_text(errors="replace")[-2000:]
                raise BrokerUnavailable(f"mosquitto exited at start-up: {detail.strip()}")
            if _port_open(self.config.host, self.config.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerUnavailable(f"mosquitto did not listen on port {self.config.port}")

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._process.pid if self._process else None

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the broker (crash simulation)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its state), then SIGKILL if it lingers."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0
