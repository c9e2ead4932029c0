"""Resolving embedded model files: names, paths, joining and checksum verification."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tars.services.llm import modelfiles
from tars.services.llm.errors import ErrorCode, LLMError


def test_user_path_wins(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert modelfiles.resolve_model(str(gguf), tmp_path) == gguf


def test_unknown_name_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(LLMError) as caught:
        modelfiles.resolve_model("no-such-model", tmp_path)
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE


def test_smollm2_comes_from_its_package() -> None:
    path = modelfiles.smollm2_path()
    assert path.name == modelfiles.SMOLLM2_FILENAME
    assert path.read_bytes()[:4] == b"GGUF"


def test_qwen_parts_are_all_installed_in_order() -> None:
    parts = modelfiles.qwen_part_paths()
    assert len(parts) == modelfiles.QWEN_PARTS
    assert sum(p.stat().st_size for p in parts) == modelfiles.QWEN_SIZE


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha: str | None) -> bytes:
    chunks = [b"alpha-", b"beta-", b"gamma"]
    paths = []
    for n, data in enumerate(chunks):
        path = tmp_path / f"part{n}.bin"
        path.write_bytes(data)
        paths.append(path)
    joined = b"".join(chunks)
    monkeypatch.setattr(modelfiles, "qwen_part_paths", lambda: paths)
    monkeypatch.setattr(modelfiles, "QWEN_SIZE", len(joined))
    monkeypatch.setattr(modelfiles, "QWEN_SHA256", sha or hashlib.sha256(joined).hexdigest())
    return joined


def test_join_verifies_and_is_done_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    joined = _fake_parts(tmp_path, monkeypatch, sha=None)
    target = modelfiles.ensure_qwen(tmp_path / "data")
    assert target.read_bytes() == joined
    mtime = target.stat().st_mtime_ns
    assert modelfiles.ensure_qwen(tmp_path / "data") == target
    assert target.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in target.parent.iterdir()) == [
        modelfiles.QWEN_FILENAME,
        modelfiles.QWEN_FILENAME + ".sha256",
    ]


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts(tmp_path, monkeypatch, sha="0" * 64)
    with pytest.raises(LLMError) as caught:
        modelfiles.ensure_qwen(tmp_path / "data")
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE
    assert list((tmp_path / "data" / "models").iterdir()) == []
