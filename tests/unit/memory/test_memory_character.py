import json
from pathlib import Path

import pytest

from tars.characters.model import (
    CharacterError,
    CharacterNotFoundError,
    load_character,
    parse_character,
)
from tars.services.memory.character import CharacterStore, UnknownTraitError

EXPECTED_TRAITS = {
    "honesty", "humor", "empathy", "curiosity", "confidence", "formality", "sarcasm",
    "adaptability", "discipline", "imagination", "emotional_stability", "pragmatism",
    "optimism", "resourcefulness", "cheerfulness", "engagement", "respectfulness", "verbosity",
}  # fmt: skip


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "character.json"


def test_packaged_tars_character_loads_by_any_case() -> None:
    tars = load_character("TARS")
    assert tars.name == "TARS"
    assert set(tars.traits) == EXPECTED_TRAITS
    assert all(0 <= v <= 100 for v in tars.traits.values())
    assert "Marine" in tars.systemprompt
    for section in ("voice", "scenario", "personality_notes", "example_interactions"):
        assert tars.section(section), section
    assert load_character("tars") == tars


def test_set_trait_persists_across_instances(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    original = store.snapshot().traits["humor"]
    updated = store.set_trait("humor", 30)
    assert updated.traits["humor"] == 30
    assert updated.meta["overridden"] == ["humor"]
    assert original != 30
    again = CharacterStore("TARS", store_path=store_path)
    assert again.snapshot().traits["humor"] == 30
    assert again.section("traits")["humor"] == 30
    saved = json.loads(store_path.read_text())
    assert saved == {"version": 1, "characters": {"tars": {"traits": {"humor": 30}}}}


def test_reset_traits_restores_file_values_and_persists(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    base = store.snapshot().traits
    store.set_trait("humor", 5)
    store.set_trait("honesty", 60)
    reset = store.reset_traits()
    assert reset.traits == base
    assert reset.meta["overridden"] == []
    assert CharacterStore("TARS", store_path=store_path).snapshot().traits == base


def test_setting_the_file_value_drops_the_override(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    base = store.snapshot().traits["humor"]
    store.set_trait("humor", 10)
    store.set_trait("humor", base)
    assert json.loads(store_path.read_text())["characters"] == {}


def test_unknown_trait_is_rejected_with_known_names(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    with pytest.raises(UnknownTraitError, match="unknown trait 'charm'.*humor"):
        store.set_trait("charm", 50)
    assert not store_path.exists()


@pytest.mark.parametrize("value", [-1, 101, True, 50.0, "high"])
def test_invalid_trait_values_are_rejected(store_path: Path, value: object) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    with pytest.raises(CharacterError, match="humor"):
        store.set_trait("humor", value)  # type: ignore[arg-type]
    assert store.snapshot().traits["humor"] == load_character("TARS").traits["humor"]


def test_unknown_section_is_an_error(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    assert store.section("info")["name"] == "TARS"
    with pytest.raises(CharacterError, match="unknown character section"):
        store.section("secrets")


def test_missing_character_names_the_settings(store_path: Path) -> None:
    with pytest.raises(CharacterNotFoundError, match="MEMORY_CHARACTER_NAME"):
        CharacterStore("HAL", store_path=store_path)


def test_user_dir_character_and_py_tars_layout(tmp_path: Path, store_path: Path) -> None:
    (tmp_path / "CASE").mkdir()
    (tmp_path / "CASE" / "character.toml").write_text(
        '[info]\nname = "CASE"\ndescription = "A quiet robot."\n[traits]\nhumor = 10\n'
    )
    store = CharacterStore("CASE", store_path=store_path, user_dir=tmp_path)
    assert store.snapshot().traits == {"humor": 10}
    assert store.snapshot().meta["source"].endswith("character.toml")


def test_overrides_of_other_characters_are_preserved(tmp_path: Path, store_path: Path) -> None:
    (tmp_path / "case.toml").write_text('[info]\nname = "CASE"\n[traits]\nhumor = 10\n')
    CharacterStore("CASE", store_path=store_path, user_dir=tmp_path).set_trait("humor", 90)
    CharacterStore("TARS", store_path=store_path).set_trait("humor", 11)
    saved = json.loads(store_path.read_text())["characters"]
    assert saved == {"case": {"traits": {"humor": 90}}, "tars": {"traits": {"humor": 11}}}


def test_damaged_or_stale_store_file_is_ignored(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_text("{not json")
    assert CharacterStore("TARS", store_path=store_path).snapshot().meta["overridden"] == []
    store_path.write_text(
        json.dumps({"characters": {"tars": {"traits": {"humor": 999, "gone": 5, "sarcasm": 1}}}})
    )
    traits = CharacterStore("TARS", store_path=store_path).snapshot().traits
    assert traits["sarcasm"] == 1
    assert traits["humor"] == load_character("TARS").traits["humor"]
    assert "gone" not in traits


def test_writes_leave_no_temporary_files(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    for value in (1, 2, 3):
        store.set_trait("humor", value)
    assert [p.name for p in store_path.parent.iterdir()] == ["character.json"]


def test_parse_character_validation() -> None:
    with pytest.raises(CharacterError, match="name is required"):
        parse_character({"info": {}})
    with pytest.raises(CharacterError, match="must be a table"):
        parse_character({"info": {"name": "X"}, "voice": "loud"})
    with pytest.raises(CharacterError, match="within 0-100"):
        parse_character({"info": {"name": "X"}, "traits": {"humor": 200}})


def test_snapshot_is_a_copy(store_path: Path) -> None:
    store = CharacterStore("TARS", store_path=store_path)
    snapshot = store.snapshot()
    snapshot.traits["humor"] = 0
    snapshot.voice["style"] = "shouty"
    assert store.snapshot().traits["humor"] != 0
    assert store.snapshot().voice["style"] != "shouty"
    assert store.snapshot().to_dict()["name"] == "TARS"
