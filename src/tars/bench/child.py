"""Run one suite as `tars bench <suite>` in a child process, with a time limit.

Each suite of a combined run gets its own process: an engine that crashes the
interpreter, leaks memory or leaves threads behind cannot skew or stop the suites after
it, and a suite that hangs can be stopped. Its output is shown as it comes and its last
lines are kept as the reason when it fails.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 12
_STOP_GRACE_S = 15.0


@dataclass(frozen=True)
class ChildResult:
    """How a suite's process ended."""

    exit_code: int | None
    """None when it was stopped at the time limit."""
    elapsed_s: float
    tail: list[str]
    """Its last output lines."""


def run_suite_process(suite: str, out_dir: Path, timeout_s: float) -> ChildResult:
    """Run `python -m tars bench <suite> --out <out_dir>`, echoing its output."""
    command = [sys.executable, "-m", "tars", "bench", suite, "--out", str(out_dir)]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, so a time-out stops its children too
    )
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    reader = threading.Thread(
        target=_echo, args=(process, suite, tail), name=f"bench:{suite}-output", daemon=True
    )
    reader.start()
    try:
        exit_code: int | None = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(process)
        exit_code = None
    except BaseException:
        _stop(process)  # Ctrl-C: do not leave a suite (and its broker) running
        raise
    reader.join(5.0)
    return ChildResult(exit_code, round(time.monotonic() - started, 1), list(tail))


def _echo(process: subprocess.Popen[str], suite: str, tail: collections.deque[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        text = line.rstrip("\n")
        print(f"[{suite}] {text}", flush=True)
        if text.strip():
            tail.append(text)


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate the suite's process group, then kill it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=_STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue
