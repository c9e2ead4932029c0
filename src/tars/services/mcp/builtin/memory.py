"""Built-in MCP server: remember facts the user tells, and recall them."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tars.contracts.memory import (
    TOPIC_MEMORY_QUERY,
    TOPIC_MEMORY_REMEMBER,
    MemoryFact,
    MemoryQuery,
)
from tars.services.mcp.builtin.common import directive, serve

app = MCPServer(
    "memory", instructions="Long-term memory of facts about the user.", log_level="WARNING"
)


@app.tool()
def remember(
    fact: Annotated[str, Field(min_length=1, max_length=500)],
) -> dict[str, Any]:
    """Remember a fact the user asked you to remember, written as a full sentence (for example "The user's sister is called Ana")."""  # noqa: E501
    return directive(
        f"Remembered: {fact}", publish=[(TOPIC_MEMORY_REMEMBER, MemoryFact(text=fact))]
    )


@app.tool()
def recall(
    about: Annotated[str, Field(min_length=1, max_length=200)],
) -> dict[str, Any]:
    """Look up what you remember about something (for example "sister")."""
    return directive(
        f"Memories about {about}:",
        request=(TOPIC_MEMORY_QUERY, MemoryQuery(text=about, top_k=5)),
    )


if __name__ == "__main__":
    serve(app)
