"""`tars up`, `tars status` and `tars doctor` as a user runs them, as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tars.runtime.broker import BrokerConfig

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]
LIGHT_SERVICE = "router"  # no model to load, so it is ready in about a second


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MQTT_")}
    env.update(TARS_DATA_DIR=str(data_dir), TARS_HEARTBEAT_S="1", TARS_LOG_FORMAT="text")
    return env


def tars(data_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tars", *args],
        cwd=REPO,
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def children_running(parent: int, needle: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        if ppid == parent and needle in cmdline:
            found.append(int(proc.name))
    return found


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has exited


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_up_runs_services_restarts_crashes_and_stops_broker_last(tmp_path: Path) -> None:
    up = subprocess.Popen(
        [sys.executable, "-m", "tars", "up", LIGHT_SERVICE],
        cwd=REPO,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: (tmp_path / "broker" / "credentials.json").exists(), 20, "the broker")
        config = BrokerConfig.load(tmp_path / "broker")
        assert config is not None

        def healthy() -> bool:
            status = tars(tmp_path, "status")
            return status.returncode == 0 and LIGHT_SERVICE in status.stdout

        wait_until(healthy, 60, f"{LIGHT_SERVICE} to report healthy")

        first = wait_until(lambda: children_running(up.pid, f"run {LIGHT_SERVICE}"), 10, "child")
        os.kill(first[0], signal.SIGKILL)
        restarted = wait_until(
            lambda: [
                pid for pid in children_running(up.pid, f"run {LIGHT_SERVICE}") if pid != first[0]
            ],
            30,
            "the crashed service to be restarted",
        )
        assert restarted
        wait_until(healthy, 60, "health after the restart")

        started_stop = time.monotonic()
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=20)
        assert up.returncode == 0
        assert time.monotonic() - started_stop < 15
        assert not port_open(config.port)
        assert "exited with" in output
        assert "restart 1" in output
        assert f"{LIGHT_SERVICE}: ok (ready)" in output
        lines = output.splitlines()
        assert lines[-1].endswith("broker: stopped")
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
        # A supervisor killed outright cannot stop its broker: do not leave one behind.
        for pid in processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


def test_doctor_reports_models_and_configuration(tmp_path: Path) -> None:
    result = tars(tmp_path, "doctor")
    assert "mosquitto" in result.stdout
    assert "whisper tiny.en" in result.stdout
    assert "RuntimeSettings: valid" in result.stdout


def test_bad_configuration_names_the_variable(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env["TARS_LOG_LEVEL"] = "CHATTY"
    result = subprocess.run(
        [sys.executable, "-m", "tars", "status"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TARS_LOG_LEVEL" in result.stderr


def test_killing_the_supervisor_outright_takes_its_children_along(tmp_path: Path) -> None:
    up = subprocess.Popen(
        [sys.executable, "-m", "tars", "up", LIGHT_SERVICE],
        cwd=REPO,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: children_running(up.pid, f"run {LIGHT_SERVICE}"), 30, "the service")
        assert processes_mentioning(str(tmp_path / "broker"))  # the broker runs
        up.send_signal(signal.SIGKILL)
        up.wait(10)
        wait_until(lambda: not processes_mentioning(str(tmp_path)), 10, "the children to go away")
    finally:
        for pid in processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)
