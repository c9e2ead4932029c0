"""The persona cache: the latest character snapshot turned into a system prompt.

The memory service publishes the current character retained on
``system/character/current``; the llm service keeps the newest one and rebuilds the
prompt only when it changes. Until one arrives the packaged character is used, so a
request that comes first still gets a persona.
"""

from __future__ import annotations

import logging

from tars.characters.model import CharacterData, CharacterError, load_character
from tars.characters.prompt import build_system_prompt
from tars.contracts.character import CharacterSnapshot

_LOGGER = logging.getLogger(__name__)

FALLBACK_CHARACTER = "TARS"
"""Character file used before the memory service has published one."""


def snapshot_to_character(snapshot: CharacterSnapshot) -> CharacterData:
    """Convert the wire snapshot into the engine's character value."""
    return CharacterData(
        name=snapshot.name,
        description=snapshot.description or "",
        systemprompt=snapshot.systemprompt or "",
        traits=dict(snapshot.traits),
        voice=dict(snapshot.voice),
        scenario=dict(snapshot.scenario),
        personality_notes=dict(snapshot.personality_notes),
        example_interactions=dict(snapshot.example_interactions),
        meta=dict(snapshot.meta),
    )


class PersonaCache:
    """Holds the system prompt of the current character.

    Args:
        fallback: Character file name used until a snapshot arrives (None: a plain prompt).
    """

    def __init__(self, fallback: str | None = FALLBACK_CHARACTER) -> None:
        self._prompt = "You are TARS, a helpful robot assistant."
        self._name: str | None = None
        if fallback is not None:
            try:
                self._prompt = build_system_prompt(load_character(fallback))
                self._name = fallback
            except CharacterError as err:
                _LOGGER.warning("no fallback character %s: %s", fallback, err)

    @property
    def prompt(self) -> str:
        """The current persona system prompt."""
        return self._prompt

    @property
    def name(self) -> str | None:
        """Name of the character in use."""
        return self._name

    def update(self, snapshot: CharacterSnapshot) -> None:
        """Adopt a new snapshot (the newest always wins)."""
        self._prompt = build_system_prompt(snapshot_to_character(snapshot))
        self._name = snapshot.name
        _LOGGER.info("persona updated: %s (%d traits)", snapshot.name, len(snapshot.traits))

    def system_prompt(self, extra: str | None) -> str:
        """The persona prompt with a request's extra instructions appended."""
        if extra and extra.strip():
            return f"{self._prompt}\n\n{extra.strip()}"
        return self._prompt
