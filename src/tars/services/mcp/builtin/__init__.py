"""MCP servers shipped with TARS, each run as ``python -m tars.services.mcp.builtin.<name>``.

They hold no broker credentials: their tools return directives (see
:mod:`tars.services.mcp.directives`) that the mcp service checks and carries out.
"""
