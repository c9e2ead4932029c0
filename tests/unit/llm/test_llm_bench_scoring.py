"""`tars bench llm` scoring: the 30 quality questions and the spoken-flow figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

from tars.bench import llm_quality
from tars.bench.llm_probe import ask, speech_flow, summarize
from tars.bench.llm_quality import QUESTIONS, Question, passes
from tars.services.llm.provider import (
    CompletionParams,
    Finished,
    ToolCall,
    ToolCallsReady,
    Usage,
)


def test_thirty_questions_six_per_category() -> None:
    assert len(QUESTIONS) == 30
    assert len({q.text for q in QUESTIONS}) == 30
    assert set(Counter(q.category for q in QUESTIONS).values()) == {6}


def test_keywords_match_whole_words_case_insensitively() -> None:
    seven = Question("arithmetic", "12 - 5?", (("7", "seven"),))
    assert passes(seven, "That is Seven.")
    assert passes(seven, "12 minus 5 is 7.")
    assert not passes(seven, "It is 17.")


def test_every_group_must_match() -> None:
    colours = next(q for q in QUESTIONS if "primary colours" in q.text)
    assert passes(colours, "Red, yellow and blue.")
    assert not passes(colours, "Red and blue.")


def test_refusals_pass_on_an_admission_with_any_apostrophe() -> None:
    lottery = next(q for q in QUESTIONS if "lottery" in q.text)
    assert passes(lottery, "I can\u2019t predict that; nobody can.")
    assert not passes(lottery, "4, 8, 15, 16, 23 and 42.")


def test_score_counts_by_category_and_lists_failures() -> None:
    replies = ["Paris."] + ["I do not know."] * 29
    result = llm_quality.score(replies)
    assert result["total"] == 30
    by_category = result["by_category"]
    assert isinstance(by_category, dict)
    assert by_category["general"] == "1/6"
    assert by_category["refusal"] == "6/6"
    assert result["passed"] == 7


def test_flow_first_sentence_and_no_gap_when_text_keeps_ahead() -> None:
    # 30 characters take 2 s to speak; the next sentence is ready after 0.5 s.
    flow = speech_flow([(0.4, "A" * 30), (0.9, "B" * 30), (1.4, "C" * 30)])
    assert flow["first_sentence_ms"] == 400.0
    assert flow["sentences"] == 3
    assert flow["max_gap_ms"] == 0.0


def test_flow_gap_when_the_next_sentence_comes_late() -> None:
    # "Hi." plays 0.55-0.75 s; the next sentence is ready at 2.0 s and plays from 2.15 s.
    flow = speech_flow([(0.4, "Hi."), (2.0, "Later.")])
    assert flow["max_gap_ms"] == 1400.0


class _ToolCallOnly:
    """A provider whose reply is a tool call: tokens are generated, no text streams."""

    async def stream(
        self, messages: object, params: object, tools: object
    ) -> AsyncIterator[ToolCallsReady | Finished]:
        yield ToolCallsReady((ToolCall("c1", "move", {"action": "wave"}),))
        yield Finished("tool_calls", Usage(prompt_tokens=40, completion_tokens=28), "fake")


async def test_a_reply_that_is_only_a_tool_call_has_no_decode_rate() -> None:
    row = await ask(_ToolCallOnly(), "system", "Wave.", CompletionParams("fake"))  # type: ignore[arg-type]
    assert row["completion_tokens"] == 28
    assert row["reply"] == ""
    assert row["decode_tokens_per_s"] is None
    text_row = {**row, "decode_tokens_per_s": 10.0, "first_sentence_ms": 100.0}
    summary = summarize([row, text_row])
    assert summary["decode_tokens_per_s"] == 10.0, "the tool call is not averaged in as zero"
