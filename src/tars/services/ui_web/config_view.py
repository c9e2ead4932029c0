"""The configuration in force, as the web UI shows it: every settings model, secrets redacted."""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from tars.runtime.envdoc import settings_classes

REDACTED = "********"
_SECRET_NAME = re.compile(
    r"(^|_)(token|password|passwd|secret|api_key|apikey|credentials?)$", re.IGNORECASE
)


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if value is not None and _SECRET_NAME.search(name):
        return REDACTED  # named like a secret but not typed as one: hide it all the same
    if isinstance(value, tuple | list):
        return [str(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def describe(settings_class: type[BaseSettings]) -> dict[str, Any]:
    """One settings model as read from this process's environment, secrets redacted."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    entry: dict[str, Any] = {
        "name": settings_class.__name__,
        "module": settings_class.__module__,
        "prefix": prefix,
    }
    try:
        instance = settings_class()
    except ValidationError as err:
        entry["error"] = "; ".join(
            f"{prefix}{str(item['loc'][0]).upper() if item['loc'] else '?'}: {item['msg']}"
            for item in err.errors()
        )
        return entry
    entry["values"] = {
        f"{prefix}{name.upper()}": _shown(name, getattr(instance, name))
        for name in settings_class.model_fields
    }
    entry["descriptions"] = {
        f"{prefix}{name.upper()}": (field.description or "").strip()
        for name, field in settings_class.model_fields.items()
    }
    return entry


def configuration() -> list[dict[str, Any]]:
    """Every settings model of the shared runtime and each installed service."""
    return [describe(settings_class) for settings_class in settings_classes()]
