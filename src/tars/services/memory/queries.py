"""SQL reads behind ``MemoryStore.query``: candidates, rows, context and the token budget.

Callers hold the store's lock; these functions only read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

from tars.services.memory.ranking import fts_match_expression
from tars.services.memory.records import (
    ContextType,
    MemoryQuery,
    MemoryResult,
    MemoryResults,
    estimate_tokens,
    iso_timestamp,
    turn_document,
)
from tars.services.memory.vectors import KIND_FACT, KIND_TURN

DocKey = tuple[int, int]
"""``(kind code, row id)`` of a stored document."""

_FTS_KIND = {"turn": KIND_TURN, "fact": KIND_FACT}
_TURN_COLUMNS = "id, user_text, reply, satellite, ts, request_id"


def recent_keys(conn: sqlite3.Connection, limit: int) -> list[DocKey]:
    """The ``limit`` newest documents of either kind, newest first."""
    # Two indexed LIMIT queries merged here beat a UNION sorted over both tables.
    rows: list[tuple[float, int, int]] = []
    for kind, table in ((KIND_TURN, "turns"), (KIND_FACT, "facts")):
        sql = f"SELECT ts, id FROM {table} ORDER BY ts DESC, id DESC LIMIT ?"
        rows.extend((ts, kind, doc_id) for ts, doc_id in conn.execute(sql, (limit,)))
    rows.sort(key=lambda r: (-r[0], r[1], -r[2]))
    return [(kind, doc_id) for _, kind, doc_id in rows[:limit]]


def bm25_keys(conn: sqlite3.Connection, text: str, limit: int) -> list[DocKey]:
    """The ``limit`` best BM25 matches of ``text`` (FTS5 ``rank`` is ``bm25()``)."""
    expression = fts_match_expression(text)
    if expression is None:
        return []
    cursor = conn.execute(
        "SELECT kind, ref FROM docs_fts WHERE docs_fts MATCH ? ORDER BY rank LIMIT ?",
        (expression, limit),
    )
    return [(_FTS_KIND[kind], int(ref)) for kind, ref in cursor]


def assemble(
    conn: sqlite3.Connection,
    hits: Sequence[tuple[DocKey, float | None]],
    request: MemoryQuery,
) -> list[list[MemoryResult]]:
    """Load each hit as a group: previous turns, the hit, next turns (chronological).

    Neighbours come from the same satellite; a neighbour that is itself a hit, or
    already shown, is left out.
    """
    targets = {key for key, _ in hits}
    shown: set[DocKey] = set()
    groups: list[list[MemoryResult]] = []
    for (kind, doc_id), score in hits:
        target = _load(conn, kind, doc_id, score, "target")
        if target is None:
            continue
        shown.add((kind, doc_id))
        group = [target]
        if request.include_context and kind == KIND_TURN and request.context_window > 0:
            for side in ("previous", "next"):
                for row in _neighbours(conn, target, side, request.context_window):
                    key = (KIND_TURN, row.doc_id)
                    if key in targets or key in shown:
                        continue
                    shown.add(key)
                    group.append(row)
        groups.append(group)
    return groups


def budgeted(request: MemoryQuery, groups: list[list[MemoryResult]]) -> MemoryResults:
    """Apply ``max_tokens``: hits in rank order until one does not fit; neighbours if they fit.

    Each group is returned in reading order (previous, target, next).
    """
    budget = request.max_tokens
    total = 0
    truncated = False
    results: list[MemoryResult] = []
    for group in groups:
        target, context = group[0], group[1:]
        if budget is not None and total + target.token_count > budget:
            truncated = True
            break
        total += target.token_count
        kept = [target]
        for row in context:
            if budget is not None and total + row.token_count > budget:
                truncated = True
                continue
            total += row.token_count
            kept.append(row)
        kept.sort(key=lambda r: (r.ts, r.doc_id))
        results.extend(kept)
    return MemoryResults(
        query=request.text,
        k=request.top_k,
        results=tuple(results),
        total_tokens=total,
        strategy_used=request.retrieval_strategy,
        truncated=truncated,
    )


def _load(
    conn: sqlite3.Connection, kind: int, doc_id: int, score: float | None, ctx: ContextType
) -> MemoryResult | None:
    if kind == KIND_TURN:
        row = conn.execute(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _turn_result(row, score, ctx)
    fact = conn.execute(
        "SELECT id, text, satellite, ts FROM facts WHERE id = ?", (doc_id,)
    ).fetchone()
    if fact is None:
        return None
    fact_id, text, satellite, ts = fact
    return MemoryResult(
        document=text,
        score=score,
        timestamp=iso_timestamp(ts),
        context_type=ctx,
        token_count=estimate_tokens(text),
        kind="fact",
        doc_id=int(fact_id),
        ts=float(ts),
        satellite=satellite,
    )


def _neighbours(
    conn: sqlite3.Connection,
    target: MemoryResult,
    side: Literal["previous", "next"],
    window: int,
) -> list[MemoryResult]:
    if side == "previous":
        sql = f"SELECT {_TURN_COLUMNS} FROM turns WHERE satellite = ? AND id < ? ORDER BY id DESC"
    else:
        sql = f"SELECT {_TURN_COLUMNS} FROM turns WHERE satellite = ? AND id > ? ORDER BY id"
    rows = conn.execute(f"{sql} LIMIT ?", (target.satellite, target.doc_id, window)).fetchall()
    return [_turn_result(row, None, side) for row in rows]


def _turn_result(row: tuple[Any, ...], score: float | None, ctx: ContextType) -> MemoryResult:
    turn_id, user_text, reply, satellite, ts, request_id = row
    document = turn_document(str(user_text), str(reply))
    return MemoryResult(
        document=document,
        score=score,
        timestamp=iso_timestamp(ts),
        context_type=ctx,
        token_count=estimate_tokens(document),
        kind="turn",
        doc_id=int(turn_id),
        ts=float(ts),
        satellite=str(satellite),
        request_id=None if request_id is None else str(request_id),
        user_text=str(user_text),
        reply=str(reply),
    )
