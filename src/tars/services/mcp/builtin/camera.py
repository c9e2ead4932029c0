"""Built-in MCP server: look through the camera."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tars.contracts.camera import TOPIC_CAMERA_CAPTURE, CameraCaptureRequest
from tars.services.mcp.builtin.common import directive, serve

app = MCPServer(
    "camera", instructions="Takes pictures with the robot's camera.", log_level="WARNING"
)


@app.tool()
def look(
    purpose: Annotated[str, Field(max_length=100)] = "describe_scene",
) -> dict[str, Any]:
    """Take a picture with your camera; the picture comes back with its size and format."""
    return directive(
        "Took a picture:",
        request=(TOPIC_CAMERA_CAPTURE, CameraCaptureRequest(purpose=purpose, quality=80)),
    )


if __name__ == "__main__":
    serve(app)
