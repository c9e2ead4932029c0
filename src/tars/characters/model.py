"""Character data and TOML character files (py-tars's format).

A character file has the tables ``[info]`` (name, description, systemprompt),
``[traits]`` (integers 0-100), ``[voice]``, ``[scenario]``, ``[personality_notes]``
and ``[example_interactions]``. Files are found by name (``tars`` -> ``tars.toml``) in
an optional user folder first, then among the files shipped in this package.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

TRAIT_MIN = 0
"""Lowest trait value."""
TRAIT_MAX = 100
"""Highest trait value."""

SECTIONS = (
    "info",
    "traits",
    "voice",
    "scenario",
    "personality_notes",
    "example_interactions",
    "meta",
)
"""Section names ``CharacterData.section`` answers (``info`` is name/description/prompt)."""


class CharacterError(ValueError):
    """A character file or a change to a character is invalid."""

    code = "character_invalid"
    """Stable error code for events and the UI."""


class CharacterNotFoundError(CharacterError):
    """No character file with that name exists."""

    code = "character_not_found"


@dataclass(frozen=True, slots=True)
class CharacterData:
    """One character's full state (mirrors py-tars ``CharacterSnapshot``).

    The mappings are plain dicts for easy serialisation; treat them as read-only
    (``with_traits`` returns a modified copy).
    """

    name: str
    """Display name ("TARS")."""
    description: str = ""
    """One-paragraph description."""
    systemprompt: str = ""
    """Base system prompt; empty means "You are {name}. {description}"."""
    traits: dict[str, int] = field(default_factory=dict)
    """Trait name -> value 0-100."""
    voice: dict[str, Any] = field(default_factory=dict)
    """TTS hints."""
    scenario: dict[str, Any] = field(default_factory=dict)
    """Setting the character lives in (``world``, ``context``)."""
    personality_notes: dict[str, Any] = field(default_factory=dict)
    """Behavioural guidelines, one per key."""
    example_interactions: dict[str, Any] = field(default_factory=dict)
    """Example exchanges, one per key."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Where the character came from and which traits are overridden."""

    def section(self, name: str) -> dict[str, Any]:
        """Return one section by name as a fresh dict.

        Raises:
            CharacterError: ``name`` is not one of ``SECTIONS``.
        """
        if name == "info":
            return {
                "name": self.name,
                "description": self.description,
                "systemprompt": self.systemprompt,
            }
        if name not in SECTIONS:
            raise CharacterError(f"unknown character section {name!r}; known: {SECTIONS}")
        value: dict[str, Any] = copy.deepcopy(getattr(self, name))
        return value

    def with_traits(
        self, traits: Mapping[str, int], meta: Mapping[str, Any] | None = None
    ) -> CharacterData:
        """Copy with ``traits`` (and optionally ``meta``) replaced."""
        return CharacterData(
            name=self.name,
            description=self.description,
            systemprompt=self.systemprompt,
            traits=dict(traits),
            voice=copy.deepcopy(self.voice),
            scenario=copy.deepcopy(self.scenario),
            personality_notes=copy.deepcopy(self.personality_notes),
            example_interactions=copy.deepcopy(self.example_interactions),
            meta=dict(self.meta if meta is None else meta),
        )

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (the ``CharacterSnapshot`` shape)."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}


def validate_trait_value(name: str, value: object) -> int:
    """Check one trait value is an integer within 0-100 and return it.

    Raises:
        CharacterError: Not an integer (bools rejected) or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise CharacterError(f"trait {name!r} must be an integer 0-100, got {value!r}")
    if not TRAIT_MIN <= value <= TRAIT_MAX:
        raise CharacterError(f"trait {name!r} must be within 0-100, got {value}")
    return value


def parse_character(data: Mapping[str, Any], source: str = "<memory>") -> CharacterData:
    """Build a character from a parsed TOML document.

    Raises:
        CharacterError: ``[info].name`` is missing, a section is not a table, or a trait
            is not an integer 0-100.
    """
    info = _table(data, "info", source)
    name = info.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CharacterError(f"{source}: [info].name is required")
    traits = {
        str(key): validate_trait_value(str(key), value)
        for key, value in _table(data, "traits", source).items()
    }
    return CharacterData(
        name=name.strip(),
        description=str(info.get("description", "")).strip(),
        systemprompt=str(info.get("systemprompt", "")).strip(),
        traits=traits,
        voice=_table(data, "voice", source),
        scenario=_table(data, "scenario", source),
        personality_notes=_table(data, "personality_notes", source),
        example_interactions=_table(data, "example_interactions", source),
        meta={"source": source},
    )


def find_character_file(name: str, user_dir: Path | None = None) -> Path:
    """Locate ``<name>.toml`` (case-insensitive name), user folder first, then packaged.

    The user folder may also use py-tars's layout ``<dir>/<NAME>/character.toml``.

    Raises:
        CharacterNotFoundError: No such file anywhere.
    """
    stem = name.strip().lower()
    candidates: list[Path] = []
    if user_dir is not None:
        candidates += [user_dir / f"{stem}.toml", user_dir / name / "character.toml"]
    candidates.append(Path(str(resources.files("tars.characters"))) / f"{stem}.toml")
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(p) for p in candidates)
    raise CharacterNotFoundError(
        f"character {name!r} not found (searched {searched}); check MEMORY_CHARACTER_NAME "
        "and MEMORY_CHARACTER_DIR"
    )


def load_character(name: str, user_dir: Path | None = None) -> CharacterData:
    """Find and parse a character file by name (see :func:`find_character_file`).

    Raises:
        CharacterNotFoundError: No such file.
        CharacterError: The file is not valid TOML or not a valid character.
    """
    path = find_character_file(name, user_dir)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CharacterError(f"{path}: invalid TOML: {err}") from err
    return parse_character(data, source=str(path))


def _table(data: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CharacterError(f"{source}: [{key}] must be a table")
    return copy.deepcopy(value)
