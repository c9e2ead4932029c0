"""Which satellites a per-satellite service serves: an allowlist and worker ownership.

Two independent filters, both checked before a satellite gets any state:

- the deployment's allowlist (``TARS_SATELLITES``), shared by every service: ids outside it
  do not exist as far as TARS is concerned (``not_allowed``);
- this worker's share (``<SERVICE>_SATELLITES`` or ``<SERVICE>_SATELLITE_PARTITION``): stt and
  wake keep per-satellite state, so they scale out by owning whole satellites, never by
  spreading one satellite's frames over workers (``not_owned``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from pydantic import field_validator

from tars.runtime.settings import TarsSettings


def parse_ids(value: str) -> frozenset[str] | None:
    """Satellite ids from a ``|``- or comma-separated list; None when the list is empty."""
    ids = frozenset(part.strip() for part in value.replace(",", "|").split("|") if part.strip())
    return ids or None


def parse_partition(value: str) -> tuple[int, int] | None:
    """``"<index>/<count>"`` as a pair; None when empty.

    Raises:
        ValueError: not two integers with 0 <= index < count.
    """
    if not value.strip():
        return None
    index_text, _, count_text = value.partition("/")
    index, count = int(index_text), int(count_text)
    if not 0 <= index < count:
        raise ValueError(f"partition {value!r}: need 0 <= index < count, as in 0/2")
    return index, count


def partition_of(satellite: str, count: int) -> int:
    """The partition ``satellite`` hashes to, the same in every process (CRC-32, not hash())."""
    return zlib.crc32(satellite.encode()) % count


@dataclass(frozen=True, slots=True)
class SatellitePolicy:
    """Admission of satellites to one service worker; the default admits every satellite."""

    allowed: frozenset[str] | None = None
    """The deployment's satellite ids (None: any)."""
    owned: frozenset[str] | None = None
    """The satellites this worker serves (None: see ``partition``)."""
    partition: tuple[int, int] | None = None
    """``(index, count)``: this worker serves the satellites hashing to ``index``."""

    def refusal(self, satellite: str) -> str | None:
        """Why ``satellite`` is not served here (``not_allowed``, ``not_owned``), or None."""
        if self.allowed is not None and satellite not in self.allowed:
            return "not_allowed"
        if self.owned is not None:
            return None if satellite in self.owned else "not_owned"
        if self.partition is not None:
            index, count = self.partition
            return None if partition_of(satellite, count) == index else "not_owned"
        return None


class OwnershipSettings(TarsSettings):
    """Satellite ownership fields for per-satellite services (prefix set by the subclass)."""

    satellites: str = ""
    """Satellites this worker serves, "|"- or comma-separated; empty: see satellite_partition."""
    satellite_partition: str = ""
    """index/count (e.g. 0/2): serve the satellites whose CRC-32 modulo count is index;
    empty with empty satellites: serve every satellite."""

    @field_validator("satellite_partition")
    @classmethod
    def _check_partition(cls, value: str) -> str:
        parse_partition(value)
        return value

    def satellite_policy(self, allowed: str = "") -> SatellitePolicy:
        """This worker's admission policy within the deployment allowlist ``allowed``."""
        return SatellitePolicy(
            allowed=parse_ids(allowed),
            owned=parse_ids(self.satellites),
            partition=parse_partition(self.satellite_partition),
        )
