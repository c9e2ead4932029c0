"""Helpers shared by the built-in servers: directive results and a quiet stdio run."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from tars.services.mcp.directives import DIRECTIVE_KEY


def directive(
    text: str,
    *,
    publish: Sequence[tuple[str, BaseModel]] = (),
    request: tuple[str, BaseModel] | None = None,
) -> dict[str, Any]:
    """A tool result asking the mcp service to publish and/or send a request.

    Args:
        text: What the model is told (a request's reply is appended to it).
        publish: ``(topic, payload model)`` pairs to publish.
        request: ``(topic, payload model)`` to send, whose reply the model gets.
    """
    block: dict[str, Any] = {
        "publish": [
            {"topic": topic, "data": model.model_dump(mode="json", exclude_none=True)}
            for topic, model in publish
        ]
    }
    if request is not None:
        topic, model = request
        block["request"] = {
            "topic": topic,
            "data": model.model_dump(mode="json", exclude_none=True),
        }
    return {"text": text, DIRECTIVE_KEY: block}


def serve(app: MCPServer) -> None:
    """Run ``app`` on stdio, logging only warnings (stderr is the mcp service's log file)."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C on `tars up` reaches us too
        app.run()
