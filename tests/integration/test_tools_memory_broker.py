"""Character and memory tools on a real broker, across a restart of the whole stack.

"Make yourself funnier" sets the humour trait through the character tool; the change is kept
by the memory service and shows in the next system prompt. "Remember that my sister is
called Ana" goes in through the memory tool; after a restart, "what is my sister called?"
is answered from what the recall tool brings back.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.llm_rig import http_settings
from tests.support.openai_server import (
    OpenAIServer,
    RecordedRequest,
    Reply,
    text_stream,
    tool_call_stream,
)
from tests.support.serving import serving

from tars.contracts.character import TOPIC_CHARACTER_CURRENT
from tars.contracts.memory import TOPIC_MEMORY_QUERY, TOPIC_MEMORY_RESULTS, MemoryQuery
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.contracts.tts import TOPIC_TTS_SAY
from tars.services.llm.service import LlmService
from tars.services.mcp.config import builtin_servers
from tars.services.mcp.service import McpService
from tars.services.mcp.settings import McpSettings
from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

pytestmark = pytest.mark.broker


def model(request: RecordedRequest) -> Reply | None:
    """The scripted model: picks a tool from the request, then answers from its result."""
    last = request.body["messages"][-1]
    if last["role"] == "tool":
        recalled = last["content"].startswith("Memories about")
        name = re.search(r"sister is called (\w+)", last["content"]) if recalled else None
        return text_stream([f"Your sister is called {name.group(1)}." if name else "Done."])
    text = request.user_text.lower()
    if "funnier" in text:
        return tool_call_stream("mcp__character__set_trait", ['{"trait": "humor", "value": 95}'])
    if text.startswith("remember"):
        fact = '{"fact": "The user\'s sister is called Ana."}'
        return tool_call_stream("mcp__memory__remember", [fact])
    if "sister" in text:
        return tool_call_stream("mcp__memory__recall", ['{"about": "my sister"}'])
    return text_stream(["Why did the robot cross the road?"])


@contextlib.asynccontextmanager
async def stack(broker: TestBroker, server: OpenAIServer, data: Path) -> AsyncIterator[None]:
    memory = MemoryService(MemorySettings(), data, embedder=HashingEmbedder())
    servers = builtin_servers("character,memory", call_timeout_s=10, start_timeout_s=60)
    mcp = McpService(McpSettings(), servers, log_dir=data / "mcp")
    llm = LlmService(http_settings(server))
    router = RouterService(RouterSettings(online_announce=False, llm_timeout_s=15))
    async with (
        serving(broker, memory),
        serving(broker, mcp),
        serving(broker, llm),
        serving(broker, router),
    ):
        yield


async def test_trait_and_fact_tools_persist_across_a_restart(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    cli = mqtt_broker.bus("cli", health=False)
    says, current = Collector(), Collector()
    cli.subscribe(TOPIC_TTS_SAY, says)
    cli.subscribe(TOPIC_CHARACTER_CURRENT, current)
    cli.expect_replies(TOPIC_MEMORY_RESULTS)

    async def ask(text: str) -> str:
        since = len(says.messages)
        await cli.publish(
            TOPIC_STT_FINAL, FinalTranscript(text=text, source="text", satellite="cli")
        )
        await says.wait_for(lambda m: m.data.last, 20, since)
        return " ".join(m.data.text for m in says.messages[since:])

    async with OpenAIServer(choose=model) as server, running(cli):
        async with stack(mqtt_broker, server, tmp_path):
            assert await ask("Make yourself funnier") == "Done."
            await current.wait_for(lambda m: m.data.traits.get("humor") == 95)
            assert await ask("Tell me a joke") == "Why did the robot cross the road?"
            system_prompt = server.requests[-1].body["messages"][0]["content"]
            assert "humor: 95/100 (very high)" in system_prompt
            assert await ask("Remember that my sister is called Ana") == "Done."
            found = await cli.request(
                TOPIC_MEMORY_QUERY,
                MemoryQuery(text="sister"),
                reply_topic=TOPIC_MEMORY_RESULTS,
                timeout_s=10,
            )
            assert "Ana" in str(found.data.results)
        seen = len(current.messages)
        async with stack(mqtt_broker, server, tmp_path):
            restarted = await current.wait_for(lambda m: not m.retained, since=seen)
            assert restarted.data.traits["humor"] == 95
            assert await ask("What is my sister called?") == "Your sister is called Ana."
        recall = server.requests[-1].body["messages"][-1]
        assert recall["role"] == "tool"
        assert "The user's sister is called Ana" in recall["content"]  # the fact itself
