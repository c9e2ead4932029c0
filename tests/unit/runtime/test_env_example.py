"""`.env.example` lists every setting with its default, exactly as the models define them."""

from __future__ import annotations

from pathlib import Path

from tars.runtime.envdoc import render, settings_classes

ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"


def test_env_example_matches_the_settings_models() -> None:
    assert ENV_EXAMPLE.read_text() == render(), (
        ".env.example is stale: run `uv run python -m tars.runtime.envdoc > .env.example`"
    )


def test_every_settings_field_is_listed() -> None:
    listed = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    for settings_class in settings_classes():
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        for name in settings_class.model_fields:
            assert f"{prefix}{name.upper()}" in listed
