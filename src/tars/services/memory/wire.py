"""Conversions between the memory/character contracts and the engine's plain values."""

from __future__ import annotations

from typing import Any

from tars.characters.model import CharacterData
from tars.contracts import memory as contract
from tars.contracts.character import CharacterSnapshot
from tars.contracts.conversation import ConversationTurn
from tars.services.memory import records


def turn_record(turn: ConversationTurn) -> records.TurnRecord:
    """A finished conversation turn as a record to store."""
    return records.TurnRecord(
        user_text=turn.user_text,
        reply=turn.reply,
        satellite=turn.satellite,
        ts=turn.ts,
        request_id=turn.id,
    )


def engine_query(
    query: contract.MemoryQuery,
    *,
    default_top_k: int = 5,
    default_strategy: records.Strategy = "hybrid",
) -> records.MemoryQuery:
    """The engine query for a bus query (same fields, same ranges).

    ``top_k`` and ``retrieval_strategy`` the sender left out take the service defaults.

    Raises:
        ValueError: A field is outside the engine's accepted range.
    """
    return records.MemoryQuery(
        text=query.text,
        top_k=query.top_k if "top_k" in query.model_fields_set else default_top_k,
        max_tokens=query.max_tokens,
        include_context=query.include_context,
        context_window=query.context_window,
        retrieval_strategy=(
            query.retrieval_strategy
            if "retrieval_strategy" in query.model_fields_set
            else default_strategy
        ),
    )


def result_document(result: records.MemoryResult) -> dict[str, Any] | str:
    """A turn as ``{user, reply, satellite, kind}``; a fact as its text."""
    if result.kind == "fact":
        return result.document
    return {
        "user": result.user_text or "",
        "reply": result.reply or "",
        "satellite": result.satellite,
        "kind": result.kind,
    }


def bus_results(
    query: contract.MemoryQuery, found: records.MemoryResults
) -> contract.MemoryResults:
    """The bus answer for ``query``.

    A satellite filter keeps that satellite's turns and every fact (facts may have no
    satellite), so fewer than ``top_k`` results may come back.
    """
    kept = [
        r
        for r in found.results
        if query.satellite is None or r.kind == "fact" or r.satellite == query.satellite
    ]
    results = [
        contract.MemoryResult(
            document=result_document(r),
            score=r.score,
            timestamp=r.timestamp,
            context_type=r.context_type,
            token_count=r.token_count,
        )
        for r in kept
    ]
    return contract.MemoryResults(
        query=found.query,
        k=found.k,
        results=results,
        total_tokens=sum(r.token_count for r in kept),
        strategy_used=found.strategy_used,
        truncated=found.truncated,
    )


def snapshot(character: CharacterData) -> CharacterSnapshot:
    """The retained wire snapshot of a character."""
    return CharacterSnapshot(
        name=character.name,
        description=character.description or None,
        systemprompt=character.systemprompt or None,
        traits=dict(character.traits),
        voice=dict(character.voice),
        meta=dict(character.meta),
        scenario=dict(character.scenario),
        personality_notes=dict(character.personality_notes),
        example_interactions=dict(character.example_interactions),
    )
