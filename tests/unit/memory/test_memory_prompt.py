from tars.characters.model import CharacterData, load_character
from tars.characters.prompt import SPOKEN_STYLE_RULE, build_system_prompt, trait_level


def test_prompt_has_sections_in_py_tars_order() -> None:
    prompt = build_system_prompt(load_character("TARS"))
    markers = [
        "You are TARS",
        "Setting:",
        "Behavioural guidelines:",
        "Example communication style:",
        "Personality settings",
        SPOKEN_STYLE_RULE,
    ]
    positions = [prompt.index(marker) for marker in markers]
    assert positions == sorted(positions)
    assert "- humor: 75/100 (high)" in prompt
    assert "- emotional stability: 95/100 (very high)" in prompt
    assert "#" not in prompt
    assert "**" not in prompt


def test_prompt_follows_trait_changes() -> None:
    tars = load_character("TARS")
    lowered = tars.with_traits(tars.traits | {"humor": 10})
    before, after = build_system_prompt(tars), build_system_prompt(lowered)
    assert before != after
    assert "- humor: 10/100 (very low)" in after
    assert "humor: 75/100" not in after


def test_prompt_falls_back_to_name_and_description() -> None:
    prompt = build_system_prompt(CharacterData(name="CASE", description="A quiet robot."))
    assert prompt == f"You are CASE. A quiet robot.\n\n{SPOKEN_STYLE_RULE}"


def test_trait_level_boundaries() -> None:
    cases = {0: "very low", 19: "very low", 20: "low", 39: "low", 40: "moderate",
             59: "moderate", 60: "high", 79: "high", 80: "very high", 100: "very high"}  # fmt: skip
    assert {v: trait_level(v) for v in cases} == cases
