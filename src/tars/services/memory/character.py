"""The character (persona) store: a TOML character plus persisted trait overrides.

The TOML file is never modified. Trait changes go to a small JSON file in the data
folder, written atomically (temporary file, fsync, ``os.replace``), so a crash leaves
either the old or the new overrides and never a torn file. The file holds overrides
for any number of characters, keyed by lower-cased name::

    {"version": 1, "characters": {"tars": {"traits": {"humor": 40}}}}

Methods block on small file I/O; the service may call them via ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from tars.characters.model import (
    CharacterData,
    CharacterError,
    load_character,
    validate_trait_value,
)

_LOGGER = logging.getLogger(__name__)

_FORMAT_VERSION = 1


class UnknownTraitError(CharacterError):
    """The character has no trait with that name."""

    code = "character_unknown_trait"


class CharacterStore:
    """Serves one character and persists its trait changes.

    Args:
        name: Character name (``TARS`` -> ``tars.toml``).
        store_path: JSON file for trait overrides (created on the first change).
        user_dir: Optional folder searched for character files before the packaged ones.

    Raises:
        CharacterNotFoundError: No character file with that name.
        CharacterError: The character file is invalid.
    """

    def __init__(self, name: str, *, store_path: Path, user_dir: Path | None = None) -> None:
        self._name = name
        self._store_path = store_path
        self._user_dir = user_dir
        self._lock = threading.Lock()
        self._base = load_character(name, user_dir)
        self._overrides = self._read_overrides()

    @property
    def key(self) -> str:
        """Lower-cased character name used in the overrides file."""
        return self._base.name.lower()

    def snapshot(self) -> CharacterData:
        """The character with overrides applied (a fresh copy)."""
        with self._lock:
            return self._current()

    def section(self, name: str) -> dict[str, Any]:
        """One section of the current character (``traits``, ``voice``, ``info``, ...).

        Raises:
            CharacterError: Unknown section name.
        """
        return self.snapshot().section(name)

    def set_trait(self, trait: str, value: int) -> CharacterData:
        """Set one trait, persist it, and return the updated character.

        Raises:
            UnknownTraitError: The character has no such trait.
            CharacterError: ``value`` is not an integer within 0-100.
        """
        with self._lock:
            if trait not in self._base.traits:
                known = ", ".join(sorted(self._base.traits))
                raise UnknownTraitError(f"unknown trait {trait!r}; known traits: {known}")
            checked = validate_trait_value(trait, value)
            overrides = dict(self._overrides)
            if checked == self._base.traits[trait]:
                overrides.pop(trait, None)  # back at the file's value: nothing to keep
            else:
                overrides[trait] = checked
            self._write_overrides(overrides)
            self._overrides = overrides
            _LOGGER.info("character %s trait %s set to %s", self._base.name, trait, checked)
            return self._current()

    def reset_traits(self) -> CharacterData:
        """Drop every override, reload the TOML file, and return the character."""
        with self._lock:
            base = load_character(self._name, self._user_dir)
            self._write_overrides({})
            self._base, self._overrides = base, {}
            _LOGGER.info("character %s traits reset", base.name)
            return self._current()

    def _current(self) -> CharacterData:
        traits = self._base.traits | self._overrides
        meta = self._base.meta | {"overridden": sorted(self._overrides)}
        return self._base.with_traits(traits, meta)

    def _read_overrides(self) -> dict[str, int]:
        try:
            raw = json.loads(self._store_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            # A damaged file must not keep the service down; it is replaced on the next
            # change.
            _LOGGER.error("ignoring unreadable character store %s: %s", self._store_path, err)
            return {}
        entry = raw.get("characters", {}).get(self.key, {}) if isinstance(raw, dict) else {}
        saved = entry.get("traits", {}) if isinstance(entry, dict) else {}
        overrides: dict[str, int] = {}
        for trait, value in saved.items() if isinstance(saved, dict) else ():
            try:
                if trait not in self._base.traits:
                    raise CharacterError(f"trait {trait!r} is no longer in the character file")
                overrides[trait] = validate_trait_value(trait, value)
            except CharacterError as err:
                _LOGGER.warning("dropping saved override: %s", err)
        return overrides

    def _write_overrides(self, overrides: dict[str, int]) -> None:
        document = self._read_document()
        characters = document.setdefault("characters", {})
        if overrides:
            characters[self.key] = {"traits": dict(sorted(overrides.items()))}
        else:
            characters.pop(self.key, None)
        _atomic_write_json(self._store_path, document)

    def _read_document(self) -> dict[str, Any]:
        """The whole overrides file (other characters' entries are preserved)."""
        try:
            raw = json.loads(self._store_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
        if not isinstance(raw, dict) or not isinstance(raw.get("characters"), dict):
            return {"version": _FORMAT_VERSION, "characters": {}}
        raw["version"] = _FORMAT_VERSION
        return raw


def _atomic_write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
