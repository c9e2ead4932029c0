"""Render `.env.example` from the settings models, so the file cannot drift from the code.

``python -m tars.runtime.envdoc > .env.example`` regenerates it; a test checks it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from pydantic import SecretStr
from pydantic_settings import BaseSettings

import tars.services
from tars.runtime.settings import ConversationSettings, MqttSettings, RuntimeSettings


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings model: the shared ones, then each service's, in name order."""
    classes: list[type[BaseSettings]] = [RuntimeSettings, ConversationSettings, MqttSettings]
    for module_info in sorted(pkgutil.iter_modules(tars.services.__path__), key=lambda m: m.name):
        if not module_info.ispkg:
            continue
        name = f"tars.services.{module_info.name}.settings"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        classes += sorted(
            (
                value
                for value in vars(module).values()
                if inspect.isclass(value)
                and issubclass(value, BaseSettings)
                and value.__module__ == name
            ),
            key=lambda cls: cls.__name__,
        )
    return classes


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return secret if secret.startswith("mqtt://") and "@" not in secret else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def render() -> str:
    """The whole `.env.example` text."""
    lines = [
        "# Every environment variable TARS reads, with its default.",
        "# Generated from the settings models: python -m tars.runtime.envdoc > .env.example",
        "",
    ]
    for settings_class in settings_classes():
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        lines.append(f"# --- {settings_class.__name__} ({settings_class.__module__})")
        for name, field in settings_class.model_fields.items():
            description = (field.description or "").strip().replace("\n", " ")
            if description:
                lines.append(f"# {description}")
            default = (
                ""
                if field.is_required()
                else _default(field.get_default(call_default_factory=True))
            )
            if name == "data_dir" and settings_class is RuntimeSettings:
                default = "~/.local/share/tars"
            lines.append(f"{prefix}{name.upper()}={default}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
