from pathlib import Path

import pytest

from tars.services.memory.settings import MemorySettings


def test_defaults_match_py_tars() -> None:
    settings = MemorySettings()
    assert (settings.top_k, settings.strategy, settings.rrf_k) == (5, "hybrid", 60)
    assert settings.character_name == "TARS"
    assert settings.character_store_file == "character.json"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMORY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEMORY_TOP_K", "8")
    monkeypatch.setenv("MEMORY_STRATEGY", "recent")
    settings = MemorySettings()
    assert settings.db_path == tmp_path / "memory.sqlite3"
    assert settings.character_store_path == tmp_path / "character.json"
    assert (settings.top_k, settings.strategy) == (8, "recent")


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORY_STRATEGY", "naive")
    with pytest.raises(ValueError, match="strategy"):
        MemorySettings()
