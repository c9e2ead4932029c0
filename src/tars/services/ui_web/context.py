"""What the web UI's routes share: the bus relay they call and the per-app context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request, WebSocket

from tars.runtime.metrics import Metrics
from tars.services.ui_web.access import TOKEN_COOKIE, Access
from tars.services.ui_web.hub import Hub
from tars.services.ui_web.limits import Microphones
from tars.services.ui_web.settings import UiWebSettings


class Relay(Protocol):
    """What the page may ask of the bus (the service implements it)."""

    async def say(self, text: str, satellite: str) -> str:
        """Send ``text`` as a typed turn from ``satellite``; returns its utterance id."""

    async def search_memory(self, text: str, top_k: int) -> dict[str, Any]:
        """Ask the memory service; returns the results as JSON-ready data."""

    async def set_trait(self, trait: str, value: int) -> None:
        """Change one persona trait."""

    async def reset_traits(self) -> None:
        """Put every trait back to the character file's value."""

    async def audio(self, satellite: str, pcm: bytes, seq: int) -> None:
        """Publish one microphone frame of ``satellite``."""


@dataclass(frozen=True)
class UiContext:
    """Everything the routes need."""

    settings: UiWebSettings
    hub: Hub
    relay: Relay
    access: Access
    metrics: Metrics
    configuration: Any
    """Callable returning the configuration in force (redacted)."""
    microphones: Microphones
    """Which page streams which satellite."""


def presented_token(request: Request | WebSocket) -> str | None:
    """The token a request carries: bearer header, ``token`` query or the page's cookie."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
