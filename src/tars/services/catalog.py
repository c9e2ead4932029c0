"""Which services exist and how to build each one (imported lazily, so extras stay optional)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import cast

from tars.runtime.service import Service
from tars.runtime.settings import RuntimeSettings

Builder = Callable[[RuntimeSettings], Service]

SERVICE_ORDER: tuple[str, ...] = (
    "memory", "llm", "tts", "router", "stt", "wake", "mic",
    "mcp", "camera", "movement", "ui-web", "ui",
)  # fmt: skip
"""Start order for `tars up`: consumers before the producers that feed them."""
ATTACHED: tuple[str, ...] = ("ui",)
"""Services a person attaches to a running stack (`tars ui`); `tars up` leaves them out."""


def module_name(service: str) -> str:
    """Python module holding a service's ``build`` function."""
    return f"tars.services.{service.replace('-', '_')}.service"


def available() -> list[str]:
    """Services whose code is present in this installation, in start order."""
    present = []
    for service in SERVICE_ORDER:
        try:
            found = importlib.util.find_spec(module_name(service)) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            present.append(service)
    return present


class UnknownService(LookupError):
    """The named service does not exist (or is not part of this build)."""


def builder(service: str) -> Builder:
    """The ``build(runtime) -> Service`` function of a service.

    Raises:
        UnknownService: no such service here.
    """
    if service not in SERVICE_ORDER:
        raise UnknownService(f"unknown service {service!r}; known: {', '.join(SERVICE_ORDER)}")
    if service not in available():
        raise UnknownService(f"service {service!r} is not available in this version yet")
    module = importlib.import_module(module_name(service))
    return cast(Builder, module.build)
