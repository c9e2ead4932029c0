"""The configuration page lists every settings model and never shows a secret."""

from __future__ import annotations

import json

import pytest

from tars.runtime.envdoc import settings_classes
from tars.services.ui_web.config_view import REDACTED, configuration


def test_every_model_is_listed_with_secrets_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_URL", "mqtt://ui-web:hunter2@127.0.0.1:1883")
    monkeypatch.setenv("UI_WEB_TOKEN", "let-me-in")
    monkeypatch.setenv("LLM_API_KEY", "sk-secret")
    shown = configuration()
    assert [entry["name"] for entry in shown] == [cls.__name__ for cls in settings_classes()]
    values = {name: value for entry in shown for name, value in entry.get("values", {}).items()}
    assert values["MQTT_URL"] == REDACTED
    assert values["UI_WEB_TOKEN"] == REDACTED
    assert values["LLM_API_KEY"] == REDACTED
    assert values["UI_WEB_PORT"] == 5010
    text = json.dumps(shown)
    for secret in ("hunter2", "let-me-in", "sk-secret"):
        assert secret not in text


def test_a_bad_value_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UI_WEB_PORT", "not-a-port")
    (entry,) = [e for e in configuration() if e["name"] == "UiWebSettings"]
    assert "UI_WEB_PORT" in entry["error"]
    assert "values" not in entry
