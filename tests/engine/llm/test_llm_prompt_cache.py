"""The prompt cache between stack-shaped requests on a real model through llama.cpp.

Requests are built the way the llm service builds them (persona, tools section, retrieved
memories, the router's sliding history window, the question). The assertions are about
how many prompt tokens llama.cpp reads again (its ``cache_n``), a behaviour, not a timing;
times are printed only. SmolLM2-135M stands in for Qwen: the cache is the runtime's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from tests.support.broker import TestBroker
from tests.support.llm_rig import Client, llm_running

from tars.contracts.llm import TOPIC_LLM_PREFILL, ConversationMessage, LLMPrefill
from tars.services.llm.budget import build_messages
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.llamacpp_model import LlamaCppModel
from tars.services.llm.localmodel import RuntimeOptions
from tars.services.llm.modelfiles import SMOLLM2, resolve_model
from tars.services.llm.persona import PersonaCache
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    TextDelta,
    ToolSchema,
    Usage,
)
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.llm.warmup import prefill_persona

pytestmark = pytest.mark.engine

CTX = 4096
PARAMS = CompletionParams(model="local", max_tokens=12, temperature=0.0)
TOOLS = [
    ToolSchema(
        "mcp__movement__move",
        "Make the robot do a movement.",
        {
            "type": "object",
            "properties": {"command": {"type": "string", "enum": ["wave", "bow", "forward"]}},
            "required": ["command"],
        },
    ),
    ToolSchema(
        "mcp__memory__recall",
        "Search long-term memory.",
        {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    ),
]
WINDOW = 10
"""The router's history window (ROUTER_HISTORY_MAX_MESSAGES default, messages)."""


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppModel]:
    model = LlamaCppModel(resolve_model(SMOLLM2, Path("/nonexistent")), RuntimeOptions(threads=1))
    yield model
    model.close()


async def _ask(
    provider: EmbeddedProvider, persona: str, memories: Sequence[str], history: list[ChatMessage]
) -> tuple[str, Usage, float]:
    question = history.pop()
    messages = build_messages(
        persona,
        memories,
        history,
        question.content,
        ctx_window=CTX,
        max_tokens=PARAMS.max_tokens,
        rag_max_tokens=2000,
    )
    started = time.monotonic()
    text, usage = "", None
    async for event in provider.stream(messages, PARAMS, TOOLS):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            usage = event.usage
    assert usage is not None
    history += [question, ChatMessage("assistant", text.strip())]
    return text, usage, time.monotonic() - started


def _turn(history: list[ChatMessage], *messages: ChatMessage) -> None:
    """Add messages as the router does: a bounded window, the oldest dropped first."""
    history += messages
    del history[: max(0, len(history) - WINDOW)]


async def test_stack_shaped_requests_read_only_their_new_turn(smollm2: LlamaCppModel) -> None:
    persona = PersonaCache().system_prompt(None)
    provider = EmbeddedProvider(lambda: smollm2)
    history: list[ChatMessage] = []
    for n in range(WINDOW // 2):  # a full window, as after a few turns
        _turn(history, ChatMessage("user", f"Remember number {n}."))
        _turn(history, ChatMessage("assistant", f"Noted: {n}."))
    read: list[int] = []
    try:
        prefill_ms = await prefill_persona(provider, persona, PARAMS, CTX, TOOLS)
        for question, memory in [
            ("What is the capital of France?", "The user lives in Lyon."),
            ("How many legs does a spider have?", "The user keeps a pet tarantula."),
            ("Which planet is called the red planet?", "The user likes astronomy."),
        ]:
            _turn(history, ChatMessage("user", question))
            text, usage, took_s = await _ask(provider, persona, [memory], history)
            read.append(usage.prompt_tokens - usage.cached_tokens)
            print(
                f"\n{usage.prompt_tokens} prompt tokens, {usage.cached_tokens} cached, "
                f"{read[-1]} read; {took_s:.2f} s: {text!r}"
            )
            # A rule-answered turn in between, as the voice bench plays them.
            _turn(history, ChatMessage("user", "What time is it?"))
            _turn(history, ChatMessage("assistant", "It is four o'clock."))
    finally:
        await provider.aclose()
    print(f"persona and tools read in {prefill_ms} ms")
    # The requests really carry persona, tools and a full history...
    assert usage.prompt_tokens > 800
    # ...and, once the history has been read, each reads only its memories, the turns since
    # the last request and the question, although the window dropped its oldest turns and
    # the memories changed every time.
    assert read[0] > 120, read  # the whole history, after a pre-read without one
    assert all(tokens < 100 for tokens in read[1:]), read


async def _answer(client: Client, text: str, history: list[ConversationMessage]) -> str:
    request_id = await client.ask(text, conversation_history=history or None, stream=False)
    response = await client.response(request_id, timeout_s=120)
    return str(response.data.reply)


def _pair(question: str, answer: str) -> list[ConversationMessage]:
    return [
        ConversationMessage(role="user", content=question),
        ConversationMessage(role="assistant", content=answer),
    ]


def _llm_on(
    broker: TestBroker, model: LlamaCppModel, tmp_path: Path
) -> AbstractAsyncContextManager[tuple[LlmService, Client]]:
    """An llm service on ``model`` (greedy, short replies) with a client, over ``broker``."""
    settings = LlmSettings(provider="embedded", temperature=0.0, max_tokens=12, data_dir=tmp_path)
    service = LlmService(settings, provider=EmbeddedProvider(lambda: model))
    return llm_running(broker, settings, service)


@pytest.mark.broker
async def test_a_history_prefill_leaves_the_next_request_its_question_alone(
    mqtt_broker: TestBroker, smollm2: LlamaCppModel, tmp_path: Path
) -> None:
    # The router remembers a rule-answered turn the LLM never saw; without a prefill the
    # next question reads it too, with one (llm/prefill, sent as the turn ends) it does not.
    rule_turn = _pair("What time is it?", "It is four o'clock in the afternoon.")
    async with _llm_on(mqtt_broker, smollm2, tmp_path) as (llm, client):
        metrics = llm.bus.metrics
        history = _pair("Name a colour.", await _answer(client, "Name a colour.", []))
        history += rule_turn
        before = metrics.count("prompt_tokens_read")
        answer = await _answer(client, "Name a fruit.", history)
        read_without = metrics.count("prompt_tokens_read") - before
        history += _pair("Name a fruit.", answer) + rule_turn
        await client.bus.publish(TOPIC_LLM_PREFILL, LLMPrefill(conversation_history=history))
        before = metrics.count("prompt_tokens_read")
        await _answer(client, "Name an animal.", history)
        read_with = metrics.count("prompt_tokens_read") - before
        prefills = metrics.count("history_prefills")
    print(f"\nnext request read {read_without} tokens without a prefill, {read_with} after one")
    assert prefills == 1
    assert read_with < read_without - 10, (read_with, read_without)


@pytest.mark.broker
async def test_a_question_read_ahead_leaves_the_request_its_last_words(
    mqtt_broker: TestBroker, smollm2: LlamaCppModel, tmp_path: Path
) -> None:
    # While the user is still speaking, the router sends the question heard so far: at the
    # pause the request reads only the words after it and the prompt's tail.
    async with _llm_on(mqtt_broker, smollm2, tmp_path) as (llm, client):
        metrics = llm.bus.metrics
        history = _pair("Name a colour.", await _answer(client, "Name a colour.", []))
        await client.bus.publish(TOPIC_LLM_PREFILL, LLMPrefill(conversation_history=history))
        before = metrics.count("prompt_tokens_read")
        fruit = "Name a fruit that is yellow and sweet."
        history += _pair(fruit, await _answer(client, fruit, history))
        read_without = metrics.count("prompt_tokens_read") - before
        started = LLMPrefill(conversation_history=history, question="Name an animal that lives in")
        await client.bus.publish(TOPIC_LLM_PREFILL, started)
        before = metrics.count("prompt_tokens_read")
        await _answer(client, "Name an animal that lives in the sea.", history)
        read_with = metrics.count("prompt_tokens_read") - before
        question_reads = metrics.count("question_prefills")
    print(
        f"\nrequest read {read_without} tokens after a history read, {read_with} after a question"
    )
    assert question_reads == 1
    assert read_with <= read_without - 5, (read_with, read_without)
