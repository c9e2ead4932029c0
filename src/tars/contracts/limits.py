"""Bounds on what one message may carry, shared by the codec, the bus and producers.

A message past these bounds is refused where it arrives (logged once with a short excerpt
and counted), so a single hostile or buggy publisher cannot make a service parse, hold or
synthesise megabytes. Producers that may legitimately have more to say (the router with a
long reply) split it into several messages instead.
"""

from __future__ import annotations

MAX_SAY_CHARS = 4000
"""Characters of text in one ``tts/say`` (a long reply goes as several)."""
MAX_REQUEST_CHARS = 8000
"""Characters of the user's text in one ``llm/request``."""
DEFAULT_MAX_BYTES = 256 * 1024
"""Bytes of one JSON message on a topic that sets no bound of its own."""
SAY_MAX_BYTES = 64 * 1024
"""Bytes of one ``tts/say`` (MAX_SAY_CHARS of 4-byte UTF-8 plus the envelope)."""
REQUEST_MAX_BYTES = 512 * 1024
"""Bytes of one ``llm/request`` (the text plus the history) or ``memory/results``."""
IMAGE_MAX_BYTES = 16 * 1024 * 1024
"""Bytes of a message that may carry a base64 image (camera, tool results)."""
PCM_FRAME_MAX_BYTES = 32_000
"""Bytes of one microphone frame: 1 s of 16 kHz s16le (frames are normally 20-40 ms)."""
TTS_AUDIO_MAX_BYTES = 64 * 1024
"""Bytes of one reply audio piece on ``tts/audio/<satellite>``."""
EXCERPT_BYTES = 80
"""Bytes of a refused payload quoted in the log."""


def excerpt(payload: bytes | bytearray | str) -> str:
    """The start of ``payload``, safe and short enough for one log line."""
    head = payload[:EXCERPT_BYTES]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes | bytearray) else head
    return repr(text) + ("..." if len(payload) > EXCERPT_BYTES else "")


def split_text(text: str, limit: int = MAX_SAY_CHARS) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at spaces where possible.

    Args:
        text: The text to cut.
        limit: The most characters one piece may have (at least 1).

    Returns:
        The pieces in order; ``[text]`` when it already fits.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:  # one huge word: cut it hard rather than exceed the bound
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
