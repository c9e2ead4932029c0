"""Build the LLM system prompt from a character.

Order as py-tars: the base prompt (or "You are {name}. {description}"), the scenario,
behavioural guidelines from ``personality_notes``, example exchanges, then the trait
levels in words. A final rule keeps answers speakable: the reply is heard, not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tars.characters.model import CharacterData

SPOKEN_STYLE_RULE = (
    "Your replies are spoken aloud by a text-to-speech voice: answer in one or two short "
    "sentences of plain words, the first one only a few words long. No markdown, lists, "
    "headings, code, emoji or URLs."
)
"""Closing instruction appended to every system prompt.

The first sentence is asked to be short because speech starts only when it is complete: on
a small CPU each of its words is ~60-100 ms more before the listener hears anything. Worded
so that the 30 quality questions of ``tars bench llm`` score no worse (wordings that asked
for "the answer itself first" lost refusals and arithmetic)."""

_LEVELS = ((20, "very low"), (40, "low"), (60, "moderate"), (80, "high"))


def trait_level(value: int) -> str:
    """Describe a 0-100 trait value in words.

    0-19 very low, 20-39 low, 40-59 moderate, 60-79 high, 80-100 very high.
    """
    for upper, word in _LEVELS:
        if value < upper:
            return word
    return "very high"


def describe_traits(traits: Mapping[str, int]) -> str:
    """One line per trait: ``humor: 75/100 (high)`` (underscores become spaces)."""
    return "\n".join(
        f"- {name.replace('_', ' ')}: {value}/100 ({trait_level(value)})"
        for name, value in traits.items()
    )


def build_system_prompt(character: CharacterData) -> str:
    """Assemble the system prompt for ``character`` (sections without content are skipped)."""
    base = character.systemprompt or f"You are {character.name}. {character.description}".strip()
    parts = [base]
    scenario = _text_values(character.scenario)
    if scenario:
        parts.append("Setting: " + " ".join(scenario))
    notes = _text_values(character.personality_notes)
    if notes:
        parts.append("Behavioural guidelines:\n" + "\n".join(f"- {note}" for note in notes))
    examples = _text_values(character.example_interactions)
    if examples:
        parts.append("Example communication style:\n" + "\n\n".join(examples))
    if character.traits:
        parts.append(
            "Personality settings (0-100; act on them, mention them only if asked):\n"
            + describe_traits(character.traits)
        )
    parts.append(SPOKEN_STYLE_RULE)
    return "\n\n".join(parts)


def _text_values(section: Mapping[str, Any]) -> list[str]:
    """The non-empty string values of a section, in file order (nested tables skipped)."""
    return [value.strip() for value in section.values() if isinstance(value, str) and value.strip()]
