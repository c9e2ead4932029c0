"""Sentence chunking for streamed text (LLM deltas in the router, whole replies in TTS).

The rules follow py-tars's router chunker (boundary characters ``.!?;:``, min 60 / max 240 /
hard-max 2000 characters, boundary-only mode on by default) with one deliberate change: a
boundary only counts once the whitespace after it has arrived. py-tars also cut at a boundary
that merely ended the buffer, which split decimals ("3." + "5") and times ("10:" + "30") whenever
a stream delta ended there. The cost is waiting for the next delta (LLM tokens usually start
with a space), and ``flush()`` emits whatever is left when the stream ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_BOUNDARY_CHARS = ".!?;:"
"""Characters that end a sentence or clause (py-tars ``STREAM_BOUNDARY_CHARS``)."""
DEFAULT_MIN_CHARS = 60
"""Shortest chunk emitted at a boundary when boundary-only mode is off, in characters."""
DEFAULT_MAX_CHARS = 240
"""Longest chunk before a cut at a space when boundary-only mode is off, in characters."""
DEFAULT_HARD_MAX_CHARS = 2000
"""Longest chunk in any mode; past it the text is cut at the last space, in characters."""
DEFAULT_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "approx", "dept", "fig", "no"}
)
"""Lower-case words that take a full stop without ending a sentence."""

# Closing quotes and brackets stay with the sentence they close.
_CLOSERS = "\"')]}»”’"
# Dotted initialisms such as "e.g", "i.e", "U.S" or a lone initial such as "J".
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")


class SentenceChunker:
    """Turns a stream of text deltas into speakable chunks, one sentence at a time.

    ``feed`` returns every chunk completed by the delta, so a TTS consumer can start
    on the first sentence while the rest of the reply is still being generated.

    Example:
        >>> chunker = SentenceChunker()
        >>> chunker.feed("Hello there. How ")
        ['Hello there.']
        >>> chunker.feed("are you?")
        []
        >>> chunker.flush()
        'How are you?'
    """

    def __init__(
        self,
        *,
        boundary_chars: str = DEFAULT_BOUNDARY_CHARS,
        min_chars: int = DEFAULT_MIN_CHARS,
        max_chars: int = DEFAULT_MAX_CHARS,
        hard_max_chars: int = DEFAULT_HARD_MAX_CHARS,
        boundary_only: bool = True,
        abbreviations: Iterable[str] = DEFAULT_ABBREVIATIONS,
    ) -> None:
        """Configure the chunker.

        Args:
            boundary_chars: Characters that end a chunk when followed by whitespace.
            min_chars: With ``boundary_only`` off, boundaries before this length are skipped.
            max_chars: With ``boundary_only`` off, longer text is cut at the last space.
            hard_max_chars: In every mode, longer text is cut at the last space.
            boundary_only: Cut only at boundaries (and at ``hard_max_chars``), as py-tars does
                by default; every sentence becomes its own chunk.
            abbreviations: Lower-case words whose trailing full stop is not a boundary.

        Raises:
            ValueError: empty boundary set or inconsistent lengths.
        """
        if not boundary_chars:
            raise ValueError("boundary_chars must not be empty")
        if not 0 < min_chars <= max_chars <= hard_max_chars:
            raise ValueError("need 0 < min_chars <= max_chars <= hard_max_chars")
        self._boundary = re.compile(
            f"[{re.escape(boundary_chars)}]+[{re.escape(_CLOSERS)}]*(?=\\s)"
        )
        self._min_chars = min_chars
        self._limit = hard_max_chars if boundary_only else max_chars
        self._boundary_only = boundary_only
        self._abbreviations = frozenset(word.lower() for word in abbreviations)
        self._buffer = ""
        self._scan_from = 0

    @property
    def pending(self) -> str:
        """Text received but not yet emitted."""
        return self._buffer

    def feed(self, delta: str) -> list[str]:
        """Add a delta and return the chunks it completed (possibly none), in order."""
        self._buffer += delta
        chunks: list[str] = []
        while (cut := self._next_cut()) is not None:
            chunk = self._buffer[:cut].strip()
            self._buffer = self._buffer[cut:].lstrip()
            self._scan_from = 0
            if chunk:
                chunks.append(chunk)
        return chunks

    def flush(self) -> str | None:
        """Return the remaining text as a final chunk (None when only whitespace is left)."""
        rest = self._buffer.strip()
        self.reset()
        return rest or None

    def reset(self) -> None:
        """Drop any pending text (for example when the stream is cancelled)."""
        self._buffer = ""
        self._scan_from = 0

    def _next_cut(self) -> int | None:
        buffer = self._buffer
        for match in self._boundary.finditer(buffer, self._scan_from):
            if match.end() > self._limit:
                break
            if self._is_abbreviation(buffer, match.start()):
                continue
            if self._boundary_only or len(buffer[: match.end()].strip()) >= self._min_chars:
                return match.end()
        if len(buffer) > self._limit:
            return _cut_at_space(buffer, self._limit)
        # Boundaries already rejected stay rejected (the text before them cannot change), so
        # later feeds only rescan the trailing word, which may still grow into a boundary.
        self._scan_from = _last_word_start(buffer)
        return None

    def _is_abbreviation(self, buffer: str, boundary_start: int) -> bool:
        if buffer[boundary_start] != "." or buffer[boundary_start + 1 : boundary_start + 2] == ".":
            return False
        word = buffer[_last_word_start(buffer, boundary_start) : boundary_start]
        word = word.lstrip("\"'([{«“‘")
        return word.lower() in self._abbreviations or bool(_INITIALISM.match(word))


def split_sentences(text: str, chunker: SentenceChunker | None = None) -> list[str]:
    """Split a whole text into chunks with the rules of :class:`SentenceChunker`.

    Args:
        text: The text to split.
        chunker: A configured chunker to use (it is reset first); a default one when None.

    Returns:
        The chunks in order; empty for blank text.
    """
    chunker = chunker or SentenceChunker()
    chunker.reset()
    chunks = chunker.feed(text)
    rest = chunker.flush()
    if rest is not None:
        chunks.append(rest)
    return chunks


def _cut_at_space(text: str, limit: int) -> int:
    """Index to cut ``text`` at the last whitespace within ``limit`` (or at ``limit``)."""
    window = text[: limit + 1]
    cut = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
    return cut if cut > 0 else limit


def _last_word_start(text: str, end: int | None = None) -> int:
    """Index where the run of non-whitespace ending at ``end`` begins."""
    end = len(text) if end is None else end
    index = end
    while index > 0 and not text[index - 1].isspace():
        index -= 1
    return index
