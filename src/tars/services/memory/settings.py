"""Settings of the memory service (environment variables prefixed ``MEMORY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings
from tars.services.memory.records import Strategy


class MemorySettings(TarsSettings):
    """Where memory lives, how it embeds and retrieves, and which character it serves."""

    model_config = SettingsConfigDict(env_prefix="MEMORY_", frozen=True, extra="ignore")

    data_dir: Path | None = None
    """Folder for the database and trait overrides (path); unset: ``<TARS_DATA_DIR>/memory``."""
    db_file: str = "memory.sqlite3"
    """SQLite database file name inside ``data_dir``."""
    embedder: Literal["minilm", "hashing"] = "minilm"
    """``minilm`` (int8 ONNX all-MiniLM-L6-v2) or ``hashing`` (no model, tests only)."""
    embedder_threads: int = Field(default=1, ge=1, le=64)
    """onnxruntime intra-op threads for embedding (threads); 1 leaves cores for STT."""
    batch_size: int = Field(default=32, ge=1, le=1024)
    """Texts per embedder call when ingesting (texts)."""
    flush_interval_ms: int = Field(default=500, ge=0, le=60_000)
    """How long incoming turns are buffered before one batched write (ms)."""
    top_k: int = Field(default=5, ge=1, le=50)
    """Hits returned when a query does not say (documents)."""
    strategy: Strategy = "hybrid"
    """Default retrieval strategy: ``hybrid``, ``similarity`` or ``recent``."""
    rrf_k: int = Field(default=60, ge=1, le=1000)
    """Reciprocal-rank-fusion constant for hybrid retrieval (rank offset)."""
    share_group: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    """MQTT v5 shared-subscription group: memory workers with the same group split queries
    and ingest ($share/<group>/...); they must share one database. Empty: one worker."""
    character_name: str = "TARS"
    """Character served on ``system/character/current`` (file name without ``.toml``)."""
    character_dir: Path | None = None
    """Extra folder searched for character files before the packaged ones (path)."""
    character_store_file: str = "character.json"
    """File in ``data_dir`` holding persisted trait overrides (JSON)."""

    def resolved_data_dir(self, runtime_data_dir: Path) -> Path:
        """``data_dir``, or ``<runtime_data_dir>/memory`` when unset."""
        # py-tars used /data inside its container; a local-first install keeps user data
        # under the shared TARS data dir instead.
        return self.data_dir if self.data_dir is not None else runtime_data_dir / "memory"

    @property
    def db_path(self) -> Path:
        """Full path of the SQLite database (``data_dir`` must be set)."""
        return self._explicit_dir() / self.db_file

    @property
    def character_store_path(self) -> Path:
        """Full path of the trait-override file (``data_dir`` must be set)."""
        return self._explicit_dir() / self.character_store_file

    def _explicit_dir(self) -> Path:
        if self.data_dir is None:
            raise ValueError("MEMORY_DATA_DIR is unset; use resolved_data_dir(runtime dir)")
        return self.data_dir
