"""Built-in MCP server: move TARS's body (the py-tars movement vocabulary)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tars.contracts.movement import (
    MAX_SPEED,
    MIN_SPEED,
    TOPIC_MOVEMENT_COMMAND,
    TOPIC_MOVEMENT_STOP,
    CoreAction,
    EmergencyStopCommand,
    MovementCommand,
)
from tars.services.mcp.builtin.common import directive, serve

app = MCPServer("movement", instructions="Moves the robot's legs and arms.", log_level="WARNING")


@app.tool()
def move(
    action: CoreAction,
    speed: Annotated[float, Field(ge=MIN_SPEED, le=MAX_SPEED)] = 0.8,
) -> dict[str, Any]:
    """Move your robot body: wave, bow, laugh, pose, balance, reset to neutral, step forward or backward, turn left or right. Use it whenever the user asks you to make one of these movements."""  # noqa: E501
    command = MovementCommand(command=action, speed=speed)
    return directive(
        f"The {action.replace('_', ' ')} movement was sent to the servos (speed {speed:g}).",
        publish=[(TOPIC_MOVEMENT_COMMAND, command)],
    )


@app.tool()
def stop_movement() -> dict[str, Any]:
    """Stop every movement at once (emergency stop)."""
    return directive(
        "All movement stopped.",
        publish=[(TOPIC_MOVEMENT_STOP, EmergencyStopCommand(reason="movement tool"))],
    )


if __name__ == "__main__":
    serve(app)
