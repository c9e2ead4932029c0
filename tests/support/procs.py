"""Find this process's children (MCP server processes) by command line, Linux /proc only."""

from __future__ import annotations

import os
from pathlib import Path


def children_running(needle: str) -> list[int]:
    """Pids of direct children of this process whose command line contains ``needle``."""
    found = []
    for listing in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in listing.read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if needle.encode() in cmdline:
                found.append(int(pid))
    return found
