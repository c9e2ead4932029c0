"""A fixed set of 30 assistant questions, scored by expected keywords (`tars bench llm`).

Six each of general knowledge, arithmetic, instructions, persona (the TARS character) and
refusals of unknowable things. A reply passes when every keyword group has at least one of
its words in it (case-insensitive, whole words); refusals pass when the reply admits it
cannot know. The set is small and keyword-scored on purpose: it catches a runtime or prompt
change that breaks answers, not fine differences in style.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DONT_KNOW = (
    "can't",
    "cannot",
    "can not",
    "don't know",
    "do not know",
    "not sure",
    "no way",
    "no idea",
    "unable",
    "impossible",
    "not possible",
    "don't have",
    "do not have",
    "no access",
    "not able",
    "couldn't",
    "could not",
    "unpredictable",
    "guess",
    "didn't tell",
    "did not tell",
    "haven't told",
    "have not told",
)
"""Words that admit a thing cannot be known (any one passes a refusal)."""


@dataclass(frozen=True)
class Question:
    """One question and what its answer must contain.

    Attributes:
        category: general, arithmetic, instructions, persona or refusal.
        text: What the user asks.
        expect: Keyword groups; each group needs one of its words in the reply.
    """

    category: str
    text: str
    expect: tuple[tuple[str, ...], ...]


def _q(category: str, text: str, *groups: tuple[str, ...]) -> Question:
    return Question(category, text, groups)


QUESTIONS: tuple[Question, ...] = (
    _q("general", "What is the capital of France?", ("paris",)),
    _q("general", "How many legs does a spider have?", ("eight", "8")),
    _q("general", "Which planet is known as the Red Planet?", ("mars",)),
    _q("general", "Who wrote Romeo and Juliet?", ("shakespeare",)),
    _q("general", "What is the largest ocean on Earth?", ("pacific",)),
    _q("general", "What gas do plants take in from the air?", ("carbon dioxide", "co2")),
    _q("arithmetic", "What is 7 times 8?", ("56", "fifty-six", "fifty six")),
    _q("arithmetic", "What is 15 plus 27?", ("42", "forty-two", "forty two")),
    _q("arithmetic", "What is 100 divided by 4?", ("25", "twenty-five", "twenty five")),
    _q("arithmetic", "What is 12 minus 5?", ("7", "seven")),
    _q(
        "arithmetic",
        "How many minutes are there in two hours?",
        ("120", "hundred and twenty", "hundred twenty"),
    ),
    _q("arithmetic", "What is half of 50?", ("25", "twenty-five", "twenty five")),
    _q("instructions", "Say the word banana and nothing else.", ("banana",)),
    _q("instructions", "Translate 'thank you' into French.", ("merci",)),
    _q("instructions", "What is the opposite of hot?", ("cold",)),
    _q(
        "instructions",
        "Name the three primary colours of paint.",
        ("red",),
        ("blue",),
        ("yellow",),
    ),
    _q("instructions", "Count from one to five.", ("five", "5"), ("three", "3")),
    _q("instructions", "Name a fruit that is yellow.", ("banana", "lemon", "pineapple", "mango")),
    _q("persona", "What is your name?", ("tars",)),
    _q("persona", "What is your humour setting?", ("75", "seventy-five", "seventy five")),
    _q("persona", "How honest are you, in percent?", ("90", "ninety")),
    _q("persona", "What did you do before you became a desk assistant?", ("marine", "tactical")),
    _q("persona", "Are you a person or a machine?", ("machine", "robot")),
    _q("persona", "Where do you sit?", ("desk", "keyboard")),
    _q("refusal", "What number am I thinking of right now?", DONT_KNOW),
    _q("refusal", "What are next week's winning lottery numbers?", DONT_KNOW),
    _q("refusal", "What is my neighbour's middle name?", DONT_KNOW),
    _q("refusal", "How many coins are in my pocket right now?", DONT_KNOW),
    _q("refusal", "What will I dream about tonight?", DONT_KNOW),
    _q("refusal", "What colour is the shirt I am wearing?", DONT_KNOW),
)


def _normalise(text: str) -> str:
    # Curly apostrophes and hyphen variants would hide "can't" or "fifty-six".
    return text.lower().replace("\u2019", "'").replace("\u2010", "-").replace("\u2011", "-")


def _has(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text) is not None


def passes(question: Question, reply: str) -> bool:
    """True when ``reply`` has a word of every expected group of ``question``."""
    text = _normalise(reply)
    return all(any(_has(text, word) for word in group) for group in question.expect)


def score(replies: Sequence[str]) -> dict[str, object]:
    """Score replies given in the order of :data:`QUESTIONS`.

    Returns:
        ``passed``, ``total``, per-category ``by_category`` counts and the ``failed``
        questions with their replies.
    """
    by_category: dict[str, list[int]] = {}
    failed = []
    for question, reply in zip(QUESTIONS, replies, strict=True):
        ok = passes(question, reply)
        counts = by_category.setdefault(question.category, [0, 0])
        counts[0] += ok
        counts[1] += 1
        if not ok:
            failed.append({"question": question.text, "reply": reply})
    passed = sum(c[0] for c in by_category.values())
    return {
        "passed": passed,
        "total": len(QUESTIONS),
        "by_category": {k: f"{v[0]}/{v[1]}" for k, v in by_category.items()},
        "failed": failed,
    }
