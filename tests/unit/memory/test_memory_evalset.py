from tars.services.memory.evalset import (
    EVAL_FACTS,
    EVAL_QUESTIONS,
    TARGET_TURNS,
    fact_turns,
    synthetic_turns,
)


def test_eval_set_shape() -> None:
    assert len(EVAL_FACTS) == 20
    assert len(EVAL_QUESTIONS) == 14
    assert all(0 <= index < len(EVAL_FACTS) for _, index in EVAL_QUESTIONS)
    assert len({index for _, index in EVAL_QUESTIONS}) == 14
    assert [t.user_text for t in fact_turns()] == list(EVAL_FACTS)
    assert len(TARGET_TURNS) >= 5


def test_synthetic_turns_are_deterministic_and_varied() -> None:
    turns = synthetic_turns(500, seed=3)
    assert turns == synthetic_turns(500, seed=3)
    assert turns != synthetic_turns(500, seed=4)
    assert len({(t.user_text, t.reply) for t in turns}) > 450
    assert len({t.user_text.split()[0] for t in turns}) >= 15
    assert {t.satellite for t in turns} == {"local", "kitchen"}
    assert [t.ts for t in turns] == sorted(t.ts for t in turns)
    assert all("{" not in t.user_text + t.reply for t in turns)
