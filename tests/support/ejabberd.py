"""ejabberd's MQTT v5 broker (mod_mqtt) for tests: a second broker that is not Mosquitto.

Debian's ejabberd package is started as a plain child process, not its system service:
its own config, spool (Mnesia) and log directories, one MQTT listener on a free loopback
port and nothing else (no XMPP listener, no Erlang distribution, so no epmd). Logins are
anonymous (``login_anon``: any user name and password is accepted) and there is no ACL:
the generated Mosquitto's passwords and ACL are tested on Mosquitto only.

What differs in mod_mqtt 23.01, found by these tests: it has no shared subscriptions (its
CONNACK says ``SharedSubscriptionAvailable: 0`` and a ``$share/`` subscribe is answered by a
DISCONNECT with reason 0x9E), and it keeps sessions in memory, so after a restart of the
broker a QoS 1 message reaches only the subscribers that have already reconnected (Mosquitto
restores the saved sessions and queues it). Subscription identifiers, user properties,
retained messages, a retained Last-Will and session expiry work as on Mosquitto.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tars.contracts.registry import CLIENTS, SERVICES
from tars.runtime.broker import BrokerConfig, BrokerUnavailable, free_port
from tars.runtime.procs import die_with_parent
from tests.support.broker import BrokerUnderTest

_APP_GLOB = "/usr/lib/*/ejabberd-*/ebin/ejabberd.app"  # Debian's multi-arch library folder


def config_text(port: int) -> str:
    """ejabberd.yml: one loopback mod_mqtt listener, anonymous logins, quiet logs."""
    return "\n".join(
        [
            'hosts: ["localhost"]',
            "loglevel: warning",
            "auth_method: [anonymous]",
            "anonymous_protocol: login_anon",
            "listen:",
            f"  - port: {port}",
            '    ip: "127.0.0.1"',
            "    module: mod_mqtt",
            "    backlog: 1000",
            "modules:",
            "  mod_mqtt: {}",
            "",
        ]
    )


def erlang_libs() -> str:
    """The folder holding ejabberd's Erlang applications (ERL_LIBS).

    Raises:
        BrokerUnavailable: ejabberd or Erlang is not installed.
    """
    apps = sorted(glob.glob(_APP_GLOB))
    if not apps or shutil.which("erl") is None:
        raise BrokerUnavailable(
            "ejabberd is not installed: run `bash scripts/setup.sh` (apt-get install ejabberd)"
        )
    return str(Path(apps[-1]).parents[2])


class EjabberdProcess:
    """An ejabberd node in a child process, rooted in ``directory``."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        for folder in ("spool", "logs"):
            (directory / folder).mkdir(parents=True, exist_ok=True)
        (directory / "ejabberd.yml").write_text(config_text(port))

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.update(
            HOME=str(self.directory),
            ERL_LIBS=erlang_libs(),
            EJABBERD_CONFIG_PATH=str(self.directory / "ejabberd.yml"),
            EJABBERD_LOG_PATH=str(self.directory / "logs" / "ejabberd.log"),
            ERL_CRASH_DUMP=str(self.directory / "logs" / "erl_crash.dump"),
        )
        return environment

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the node and wait until its MQTT listener accepts connections.

        Raises:
            BrokerUnavailable: ejabberd is missing, exited, or did not listen in time.
        """
        environment = self._environment()
        # Schedulers that sleep instead of spinning: the machine has two cores to share.
        command = ["erl", "-noinput", "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"]
        command += ["-mnesia", "dir", f'"{self.directory / "spool"}"', "-s", "ejabberd"]
        with (self.directory / "logs" / "stdout.log").open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerUnavailable(f"ejabberd exited at start-up: {self._log_tail()}")
            if _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerUnavailable(f"ejabberd did not listen on {self.port}: {self._log_tail()}")

    def _log_tail(self) -> str:
        texts = [
            path.read_text(errors="replace")[-1500:]
            for path in sorted((self.directory / "logs").glob("*.log"))
        ]
        return "\n".join(texts).strip()

    def running(self) -> bool:
        """Whether the node is alive."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the node (crash simulation)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout_s: float = 2.0) -> None:
        """SIGTERM (the Erlang VM stops its applications), then SIGKILL if it lingers.

        The grace is short: a test broker has nothing to save, and a loaded machine can
        take ten seconds to stop every ejabberd application.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EjabberdBroker(BrokerUnderTest):
    """ejabberd's mod_mqtt on a free loopback port, with the same helpers as `TestBroker`.

    Every TARS user gets a password as with Mosquitto, so clients log in exactly as they do
    there; ejabberd accepts any.
    """

    name = "ejabberd"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        passwords = {user: secrets.token_urlsafe(18) for user in [*SERVICES, *CLIENTS]}
        self.config = BrokerConfig(directory, free_port(), passwords)
        self.process = EjabberdProcess(directory, self.config.port)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
