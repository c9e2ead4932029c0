"""glibc malloc settings for long-running service processes (``tars run``, ``tars up``).

glibc gives every thread that allocates its own malloc arena (up to 8 per core), and each
arena keeps its own freed memory. Engines run on thread pools (``asyncio.to_thread``,
onnxruntime, CTranslate2, llama.cpp), so a service's resident memory grows with arenas it
does not need: two are enough for services that make one engine call at a time.

Loading an engine, and every engine call, also leaves freed memory behind (read buffers,
onnxruntime's constant folding: ~60 MiB in memory's embedder; Whisper's per-utterance
buffers: ~70 MiB in stt after a few turns), which glibc keeps in the heap for reuse. A
service that has loaded its engines calls :func:`release_free_memory` before it reports
ready, and every service releases again each :data:`RELEASE_INTERVAL_S` (``runtime.service``).
The next engine call after a release faults its buffers in again, once: a few milliseconds.

Not done: a fixed mmap threshold (``MALLOC_MMAP_THRESHOLD_``) would return every large block
the moment it is freed, but it made Whisper transcription ~60 % more CPU (fresh pages for
every buffer of every decoding step), and Piper ~13 % more without onnxruntime's arena.
An operator who sets ``MALLOC_ARENA_MAX`` or ``GLIBC_TUNABLES`` keeps their own choice.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

_LOGGER = logging.getLogger(__name__)

ARENA_MAX = 2
"""Malloc arenas per process (glibc default: 8 per core)."""

RELEASE_INTERVAL_S = 10.0
"""Seconds between two releases of free heap memory in a running service."""

_M_ARENA_MAX = -8  # glibc <malloc.h> parameter number
_OPERATOR_VARIABLES = ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")


def tune_malloc(environ: Mapping[str, str] | None = None) -> bool:
    """Limit this process to :data:`ARENA_MAX` malloc arenas.

    Call it first thing, before any thread starts. Does nothing (and returns False) on a C
    library other than glibc or when the environment already sets the malloc tunables.
    """
    env = os.environ if environ is None else environ
    if any(name in env for name in _OPERATOR_VARIABLES):
        return False
    libc = _glibc()
    if libc is None:
        return False
    applied = bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not applied:
        _LOGGER.debug("mallopt refused M_ARENA_MAX; glibc's default stays")
    return applied


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``); blocks briefly.

    Takes a few milliseconds on a service's heap; a no-op on other C libraries.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    if not _is_glibc():
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # no such name on this system's C library
        return False
