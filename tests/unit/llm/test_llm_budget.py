"""Prompt budgeting: persona, memories and newest history within the context window."""

from __future__ import annotations

from tars.services.llm.budget import (
    MEMORY_FOOTER,
    MEMORY_HEADER,
    build_messages,
    estimate_tokens,
    message_tokens,
)
from tars.services.llm.provider import ChatMessage, ToolCall


def _history(turns: int, words: int = 20) -> list[ChatMessage]:
    out = []
    for n in range(turns):
        out.append(ChatMessage("user", f"question {n} " + "word " * words))
        out.append(ChatMessage("assistant", f"answer {n} " + "word " * words))
    return out


def test_estimate_uses_words_for_prose_and_chars_for_dense_text() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("one two three four five six seven eight nine ten") == 13
    dense = "x" * 400  # one "word", but certainly more than 2 tokens
    assert estimate_tokens(dense) == 100


def test_everything_fits_in_a_large_window() -> None:
    history = _history(3)
    out = build_messages(
        "You are TARS.",
        ["User likes tea.", "User lives in Paris."],
        history,
        "What now?",
        ctx_window=8192,
        max_tokens=256,
        rag_max_tokens=2000,
    )
    assert out[0].role == "system"
    assert out[0].content.startswith("You are TARS.")
    assert MEMORY_HEADER in out[0].content
    assert out[0].content.endswith(MEMORY_FOOTER)
    assert "- User likes tea.\n- User lives in Paris." in out[0].content
    assert out[1:-1] == history
    assert out[-1] == ChatMessage("user", "What now?")


def test_no_memories_means_no_memory_section() -> None:
    out = build_messages(
        "Persona.", [], [], "Hi", ctx_window=4096, max_tokens=256, rag_max_tokens=2000
    )
    assert out == [ChatMessage("system", "Persona."), ChatMessage("user", "Hi")]


def test_history_is_trimmed_keeping_the_newest_in_order() -> None:
    history = _history(40)  # ~1,000+ tokens
    out = build_messages(
        "Persona.", [], history, "Latest?", ctx_window=1024, max_tokens=256, rag_max_tokens=0
    )
    kept = out[1:-1]
    assert 0 < len(kept) < len(history)
    assert kept == history[-len(kept) :]
    used = sum(message_tokens(m) for m in out)
    assert used <= 1024 - 256


def test_memories_take_at_most_half_the_room_and_respect_their_cap() -> None:
    memories = [f"memory {n} " + "fact " * 30 for n in range(50)]
    history = _history(40)
    out = build_messages(
        "Persona.", memories, history, "Q?", ctx_window=2048, max_tokens=256, rag_max_tokens=300
    )
    memory_section = out[0].content[len("Persona.") :]
    assert 0 < estimate_tokens(memory_section) <= 300
    assert "memory 0 " in memory_section  # best-ranked first
    assert len(out) > 2  # history still got the rest of the room
    assert sum(message_tokens(m) for m in out) <= 2048 - 256


def test_oversized_persona_still_yields_system_and_user() -> None:
    out = build_messages(
        "word " * 5000,
        ["m"],
        _history(2),
        "Hi",
        ctx_window=1024,
        max_tokens=256,
        rag_max_tokens=100,
    )
    assert [m.role for m in out] == ["system", "user"]
    assert MEMORY_HEADER not in out[0].content


def test_orphan_tool_result_at_the_cut_is_dropped() -> None:
    call = ToolCall("c1", "lookup", {"q": "x"})
    history = [
        ChatMessage("user", "old " * 300),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "result " * 5, tool_call_id="c1"),
        ChatMessage("assistant", "done"),
    ]
    # Room for the last two messages only: the tool result would lose its call.
    room = message_tokens(history[2]) + message_tokens(history[3]) + 1
    fixed = message_tokens(ChatMessage("system", "P")) + message_tokens(ChatMessage("user", "Q"))
    out = build_messages(
        "P",
        [],
        history,
        "Q",
        ctx_window=room + fixed + 100 + 10,
        max_tokens=10,
        rag_max_tokens=0,
    )
    assert out[1:-1] == [history[3]]
