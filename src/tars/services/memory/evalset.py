"""Fixed retrieval evaluation set and a deterministic synthetic-turn generator.

Shared by the engine tests and ``tars bench memory``: 20 personal facts, 14
paraphrased questions (each names the fact that answers it, top-1 scoring, as in
offline-models.md), and filler turns of everyday assistant traffic in any number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tars.services.memory.records import MemoryQuery, Strategy, TurnRecord
from tars.services.memory.store import MemoryStore

EVAL_FACTS: tuple[str, ...] = (
    "My sister is called Ana and she lives in Lisbon.",
    "I am allergic to peanuts.",
    "My dog is a beagle called Biscuit.",
    "I work as a nurse at the city hospital.",
    "My favourite band is Radiohead.",
    "My wife's birthday is on the ninth of March.",
    "I drive a blue Subaru Outback.",
    "I am learning to play the cello.",
    "My son Leo is seven years old.",
    "I grew up in a small fishing town in Scotland.",
    "I take my coffee black with no sugar.",
    "My dentist appointment is next Thursday at ten.",
    "I support Arsenal football club.",
    "The spare house key is hidden under the blue flower pot.",
    "I am training for the Berlin marathon in September.",
    "My favourite food is Thai green curry.",
    "I have been vegetarian since 2015.",
    "My mother's name is Margaret.",
    "I speak Portuguese and a little Japanese.",
    "My laptop is a ThinkPad I bought last year.",
)
"""Personal facts as the user would state them (the last six are distractors)."""

EVAL_QUESTIONS: tuple[tuple[str, int], ...] = (
    ("Where does my sibling live?", 0),
    ("Which kind of nut must I stay away from?", 1),
    ("What sort of pet do I have?", 2),
    ("What is my job?", 3),
    ("Which musicians do I like most?", 4),
    ("When should I get a present for my spouse?", 5),
    ("What car do I own?", 6),
    ("Which instrument am I practising?", 7),
    ("How old is my boy?", 8),
    ("Where was I raised as a kid?", 9),
    ("How do I like my morning brew?", 10),
    ("When do I have to see the tooth doctor?", 11),
    ("Which team do I cheer for?", 12),
    ("If I get locked out, where can I find a way in?", 13),
)
"""Paraphrased questions and the index in ``EVAL_FACTS`` of the fact answering each."""

TARGET_TURNS: tuple[tuple[str, str, str], ...] = (
    (
        "I parked the car on level three of the airport garage, spot C14.",
        "Level three, spot C14. I will remember it so you do not have to.",
        "Where did I leave my vehicle at the airport?",
    ),
    (
        "My passport expires in August 2027.",
        "August 2027. I suggest renewing it before then.",
        "When does my travel document run out?",
    ),
    (
        "The plumber Frank is coming on Wednesday to fix the leaking sink.",
        "Frank, Wednesday, leaking sink. Got it.",
        "Who is repairing the sink?",
    ),
    (
        "I lent my ladder to our neighbour Rosa.",
        "Noted: Rosa has your ladder.",
        "Who borrowed my ladder?",
    ),
    (
        "My blood type is O negative.",
        "O negative. Universal donor. Useful to know.",
        "Which blood group am I?",
    ),
)
"""Distinctive turns ``(user_text, reply, paraphrased question)`` to hide among filler."""

_ACKS = (
    "Noted. I will remember that.",
    "Got it, stored for later.",
    "Understood. Filed away.",
)


def fact_turns(start_ts: float = 1_700_000_000.0, satellite: str = "local") -> list[TurnRecord]:
    """``EVAL_FACTS`` as conversation turns (the user states it, TARS acknowledges)."""
    return [
        TurnRecord(fact, _ACKS[i % len(_ACKS)], satellite, start_ts + 60.0 * i, f"fact-{i}")
        for i, fact in enumerate(EVAL_FACTS)
    ]


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Top-1 retrieval score over ``EVAL_QUESTIONS``."""

    correct: int
    """Questions whose first hit was the expected fact."""
    total: int
    """Questions asked."""
    misses: tuple[tuple[str, str], ...]
    """``(question, first document returned)`` for every miss."""

    @property
    def accuracy(self) -> float:
        """``correct / total``."""
        return self.correct / self.total


def evaluate_top1(store: MemoryStore, strategy: Strategy = "hybrid", top_k: int = 5) -> EvalReport:
    """Ask every question and check the first hit contains the expected fact's text.

    ``top_k`` defaults to the RAG default (5) because hybrid fuses ``2 * top_k``
    candidates per ranker, so the first hit depends on it.

    Works whether the facts were stored as turns (:func:`fact_turns`) or as facts.
    Blocking: run it off the event loop.
    """
    correct = 0
    misses: list[tuple[str, str]] = []
    for question, index in EVAL_QUESTIONS:
        found = store.query(MemoryQuery(question, top_k=top_k, retrieval_strategy=strategy))
        first = found.results[0].document if found.results else ""
        if EVAL_FACTS[index] in first:
            correct += 1
        else:
            misses.append((question, first))
    return EvalReport(correct, len(EVAL_QUESTIONS), tuple(misses))


_NAMES = ("Priya", "Tom", "Mei", "Carlos", "Fatima", "Jonas", "Aiko", "Dmitri", "Grace", "Omar")
_CITIES = ("Oslo", "Nairobi", "Toronto", "Madrid", "Seoul", "Denver", "Cairo", "Perth", "Lyon")
_ROOMS = ("kitchen", "living room", "bedroom", "office", "garage", "hallway", "bathroom")
_GENRES = ("jazz", "lo-fi beats", "classical piano", "eighties pop", "bluegrass", "ambient")
_FOODS = ("lasagne", "banana bread", "pad see ew", "minestrone", "falafel", "pancakes")
_THINGS = ("milk", "batteries", "printer paper", "dish soap", "oat flakes", "light bulbs")
_ANIMALS = ("octopus", "giraffe", "hummingbird", "axolotl", "platypus", "honey bee")
_COUNTRIES = ("Chile", "Norway", "Kenya", "Vietnam", "Peru", "Iceland", "Morocco", "Canada")

_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("what's the weather in {city} today", "{city}: {n} degrees and {sky}. {tip}"),
    ("set a timer for {n} minutes", "Timer set for {n} minutes. I will not forget, unlike you."),
    ("turn on the {room} lights", "{room} lights on. Try not to trip over anything."),
    ("dim the {room} lights to {n} percent", "{room} lights at {n} percent. Mood lighting."),
    ("play some {genre}", "Playing {genre}. Volume at {m} percent."),
    ("how long does {food} take to cook", "About {m} minutes for {food}, give or take."),
    ("add {thing} to the shopping list", "Added {thing}. The list now has {n} items."),
    ("remind me to call {name} at {h} o'clock", "I will remind you to call {name} at {h}."),
    ("what is {n} times {m}", "{n} times {m} is {nm}."),
    ("convert {n} miles to kilometres", "{n} miles is about {km} kilometres."),
    ("tell me a fact about the {animal}", "The {animal} {animal_fact}"),
    ("what is the capital of {country}", "The capital of {country} is {capital}."),
    ("how do you spell {word}", "{word}: {spelled}."),
    ("what time is it in {city}", "It is {h}:{mm} in {city}."),
    ("did {name} send me a message", "Nothing from {name} in the last {n} hours."),
    ("tell me a joke", "{joke}"),
    ("how many steps did I walk yesterday", "{steps} steps. Respectable, for a human."),
    ("what's on my calendar for {day}", "{day}: a meeting with {name} at {h}."),
    ("lock the front door", "Front door locked. Humour setting unchanged."),
    ("set the thermostat to {t} degrees", "Thermostat set to {t} degrees."),
)
_PREFIXES = ("", "", "hey, ", "okay, ", "tars, ", "quick one: ", "um, ", "could you ")
_SUFFIXES = ("", "", " please", " thanks", " right now", " for me", " if you can")
_SKIES = ("clear skies", "light rain", "overcast", "snow flurries", "strong wind", "fog")
_TIPS = ("Bring a jacket.", "Sunglasses advised.", "Umbrella recommended.", "Stay inside.")
_CAPITALS = {
    "Chile": "Santiago",
    "Norway": "Oslo",
    "Kenya": "Nairobi",
    "Vietnam": "Hanoi",
    "Peru": "Lima",
    "Iceland": "Reykjavik",
    "Morocco": "Rabat",
    "Canada": "Ottawa",
}
_ANIMAL_FACTS = (
    "has three hearts.",
    "sleeps only a few hours a day.",
    "can fly backwards.",
    "can regrow its limbs.",
    "lays eggs despite being a mammal.",
    "communicates by dancing.",
)
_JOKES = (
    "I would tell you a UDP joke, but you might not get it.",
    "Why did the robot cross the road? It was programmed to.",
    "I have a joke about entropy, but it gets worse every time.",
)
_WORDS = ("necessary", "rhythm", "separate", "bureaucracy", "liaison", "questionnaire")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def synthetic_turns(
    n: int,
    *,
    seed: int = 0,
    start_ts: float = 1_600_000_000.0,
    satellites: tuple[str, ...] = ("local", "kitchen"),
) -> list[TurnRecord]:
    """Generate ``n`` varied but deterministic everyday turns (same seed, same turns).

    Turns are spaced 37 s apart from ``start_ts`` and spread over ``satellites``.
    """
    rng = random.Random(seed)
    turns: list[TurnRecord] = []
    for i in range(n):
        user, reply = rng.choice(_TEMPLATES)
        slots = _slots(rng)
        turns.append(
            TurnRecord(
                user_text=rng.choice(_PREFIXES) + user.format(**slots) + rng.choice(_SUFFIXES),
                reply=_sentence_case(reply.format(**slots)),
                satellite=satellites[i % len(satellites)],
                ts=start_ts + 37.0 * i,
                request_id=f"synthetic-{seed}-{i}",
            )
        )
    return turns


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slots(rng: random.Random) -> dict[str, object]:
    n, m = rng.randint(2, 99), rng.randint(2, 60)
    country = rng.choice(_COUNTRIES)
    animal_index = rng.randrange(len(_ANIMALS))
    word = rng.choice(_WORDS)
    return {
        "n": n,
        "m": m,
        "nm": n * m,
        "km": round(n * 1.609, 1),
        "h": rng.randint(1, 12),
        "mm": f"{rng.randint(0, 59):02d}",
        "t": rng.randint(16, 26),
        "steps": rng.randint(1500, 18000),
        "city": rng.choice(_CITIES),
        "room": rng.choice(_ROOMS),
        "genre": rng.choice(_GENRES),
        "food": rng.choice(_FOODS),
        "thing": rng.choice(_THINGS),
        "name": rng.choice(_NAMES),
        "animal": _ANIMALS[animal_index],
        "animal_fact": _ANIMAL_FACTS[animal_index],
        "country": country,
        "capital": _CAPITALS[country],
        "word": word,
        "spelled": "-".join(word.upper()),
        "day": rng.choice(_DAYS),
        "joke": rng.choice(_JOKES),
        "sky": rng.choice(_SKIES),
        "tip": rng.choice(_TIPS),
    }
