"""Child-process helpers: children that do not outlive the process that started them."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a freshly forked child: get SIGTERM when the parent dies, even by SIGKILL.

    Used as ``preexec_fn`` for the broker and the services started by `tars up`, so a
    supervisor that is killed outright leaves no broker or service behind. Linux only; a
    no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
