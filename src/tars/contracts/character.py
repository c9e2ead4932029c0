"""Persona (character) snapshots, queries and trait updates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tars.contracts.base import Payload

TOPIC_CHARACTER_GET = "character/get"
TOPIC_CHARACTER_RESULT = "character/result"
TOPIC_CHARACTER_CURRENT = "system/character/current"
TOPIC_CHARACTER_UPDATE = "character/update"


class CharacterGetRequest(Payload):
    """Ask for the whole character or one section of it."""

    section: str | None = None
    """Section name (traits, voice, scenario, ...); None for everything."""


class CharacterSnapshot(Payload):
    """The whole current character (retained on system/character/current)."""

    name: str
    """Character name."""
    description: str | None = None
    """One-line description."""
    systemprompt: str | None = None
    """Base system prompt."""
    traits: dict[str, int] = Field(default_factory=dict)
    """Trait levels, 0..100."""
    voice: dict[str, Any] = Field(default_factory=dict)
    """Voice settings."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Anything else."""
    scenario: dict[str, Any] = Field(default_factory=dict)
    """World and context."""
    personality_notes: dict[str, Any] = Field(default_factory=dict)
    """Behavioural guidelines."""
    example_interactions: dict[str, Any] = Field(default_factory=dict)
    """Example exchanges showing the style."""


class CharacterSection(Payload):
    """One section of the character."""

    section: str
    """Section name."""
    value: dict[str, Any] | str | None = None
    """Its content (None when the section does not exist)."""
    error: str | None = None
    """Why the section could not be returned."""


class CharacterTraitUpdate(Payload):
    """Set one trait."""

    section: Literal["traits"] = "traits"
    """Always "traits"."""
    trait: str
    """Trait name."""
    value: int = Field(ge=0, le=100)
    """New level, 0..100."""


class CharacterResetTraits(Payload):
    """Reset every trait to the character file's values."""

    action: Literal["reset_traits"]
    """Always "reset_traits"."""


CharacterUpdate = CharacterTraitUpdate | CharacterResetTraits
CharacterResult = CharacterSnapshot | CharacterSection
