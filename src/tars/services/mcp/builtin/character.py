"""Built-in MCP server: read and adjust TARS's personality traits (0-100)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tars.contracts.character import (
    TOPIC_CHARACTER_GET,
    TOPIC_CHARACTER_UPDATE,
    CharacterGetRequest,
    CharacterResetTraits,
    CharacterTraitUpdate,
)
from tars.services.mcp.builtin.common import directive, serve

app = MCPServer(
    "character", instructions="Reads and changes the assistant's personality.", log_level="WARNING"
)


@app.tool()
def get_traits() -> dict[str, Any]:
    """Get your personality traits and their levels (0-100)."""
    return directive(
        "Your current traits:",
        request=(TOPIC_CHARACTER_GET, CharacterGetRequest(section="traits")),
    )


@app.tool()
def set_trait(
    trait: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")],
    value: Annotated[int, Field(ge=0, le=100)],
) -> dict[str, Any]:
    """Set one of your personality traits to a level from 0 to 100 (for example humor to be funnier, sarcasm, honesty, formality, verbosity). The change is kept."""  # noqa: E501
    return directive(
        f"Trait {trait} set to {value}.",
        publish=[(TOPIC_CHARACTER_UPDATE, CharacterTraitUpdate(trait=trait, value=value))],
    )


@app.tool()
def reset_traits() -> dict[str, Any]:
    """Reset every personality trait to the character's defaults."""
    return directive(
        "All traits reset to their defaults.",
        publish=[(TOPIC_CHARACTER_UPDATE, CharacterResetTraits(action="reset_traits"))],
    )


if __name__ == "__main__":
    serve(app)
