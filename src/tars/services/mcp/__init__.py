"""The mcp service: long-lived MCP client sessions, the tool registry, tool calls over the bus."""
