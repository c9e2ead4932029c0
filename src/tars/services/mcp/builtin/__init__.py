"""MCP servers shipped with TARS, run inside the mcp service by default.

In-process (see :mod:`tars.services.mcp.inprocess`), or each as
``python -m tars.services.mcp.builtin.<name>`` when the config gives that command. Their
tools are plain functions without I/O (the SDK runs sync tools in a worker thread, so none
blocks the mcp service's loop).

They hold no broker credentials: their tools return directives (see
:mod:`tars.services.mcp.directives`) that the mcp service checks and carries out.
"""
