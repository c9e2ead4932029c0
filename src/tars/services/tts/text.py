"""Turn LLM output (often Markdown) into plain text a voice can read."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>]+)>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_QUOTE = re.compile(r"^\s*>+\s?")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
# Underscores only count as emphasis at word edges, so snake_case names survive.
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)_{1,2}(?=\S)(.+?)(?<=\S)_{1,2}(?!\w)")
_MULTIPLY = re.compile(r"(?<=\d)\s*\*\s*(?=\d)")
_WHITESPACE = re.compile(r"\s+")
_END_PUNCTUATION = ".!?;:,"


def clean_text(text: str) -> str:
    """Strip Markdown and collapse whitespace so that only speakable text is left.

    Links and images become their text, code fences and inline backticks lose their
    markers (the code itself stays), headings and list markers go, and emphasis markers
    are dropped. Heading and list lines that lack closing punctuation get a full stop, so
    the voice pauses between items instead of running them together.

    Args:
        text: Raw reply text, possibly Markdown.

    Returns:
        Plain text on one line; empty when nothing speakable is left.
    """
    text = _FENCE.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    lines = [_clean_line(line) for line in text.splitlines()]
    joined = " ".join(line for line in lines if line)
    # An asterisk between numbers is arithmetic, not emphasis.
    joined = _MULTIPLY.sub(" times ", joined)
    joined = joined.replace("`", "").replace("*", "")
    joined = _UNDERSCORE_EMPHASIS.sub(r"\1", joined)
    return _WHITESPACE.sub(" ", joined).strip()


def _clean_line(line: str) -> str:
    if _RULE.match(line) or _TABLE_RULE.match(line):
        return ""
    line = _QUOTE.sub("", line)
    heading = _HEADING.match(line)
    bullet = _BULLET.match(line)
    if heading:
        return _terminate(heading.group(1))
    if bullet:
        return _terminate(bullet.group(1))
    if line.strip().startswith("|"):
        # A table row reads best as its cells separated by commas.
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        return _terminate(", ".join(cell for cell in cells if cell))
    return line.strip()


def _terminate(item: str) -> str:
    """End a heading or list item with a full stop unless it already ends in punctuation."""
    item = item.strip()
    bare = item.rstrip("*_`")
    if not bare or bare[-1] in _END_PUNCTUATION:
        return item
    return item + "."
