"""The prompt as the embedded runtime gets it: plain role/content dicts, laid out for its cache.

llama.cpp reuses the KV cache of the last request up to the first token that differs (and,
past that, runs of cached tokens that only moved). So what changes least comes first: the
persona, then the tools section (both read ahead by :mod:`~tars.services.llm.warmup`), then
the history, which only grows at its end; the retrieved memories, different for every
question, come last, just before the question they were retrieved for. In the system
prompt, where :func:`~tars.services.llm.budget.build_messages` puts them, they would make
the runtime read the whole history again on every request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tars.services.llm.budget import MEMORY_HEADER
from tars.services.llm.provider import ChatMessage, ToolSchema
from tars.services.llm.toolparse import tool_instructions

TOOLS_HEADER = "\n\n## Tools\n"
"""How :func:`~tars.services.llm.toolparse.tool_instructions` opens its section."""

PLAIN_NUDGE = {
    "role": "user",
    "content": "(No tool is needed. Answer me yourself, in plain words, without JSON.)",
}
"""Asked after a reply that chose no tool and said nothing else."""


def to_local_messages(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSchema]
) -> list[dict[str, str]]:
    """Convert messages to plain role/content dicts for a local chat template.

    Tools are rendered at the end of the system prompt; retrieved memories move from the
    system prompt to a system message just before the question (the last user message).
    """
    out = [_local(message) for message in messages]
    question_at = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    memories = _take_memories(out)
    if memories and question_at is not None:
        if out[0]["content"]:
            out.insert(question_at, {"role": "system", "content": memories})
        else:  # no persona: the memories stay the system prompt
            out[0]["content"] = memories
    elif memories:
        out[0]["content"] += "\n\n" + memories
    if tools:
        section = tool_instructions(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + section}
        else:
            out.insert(0, {"role": "system", "content": section.strip()})
    return out


def without_tools(local: list[dict[str, str]]) -> list[dict[str, str]]:
    """The same prompt with the tools section cut from the system prompt."""
    if local and local[0]["role"] == "system":
        head, _, _ = local[0]["content"].partition(TOOLS_HEADER)
        return [{"role": "system", "content": head}, *local[1:]] if head else local[1:]
    return local


def _local(message: ChatMessage) -> dict[str, str]:
    content = message.content
    role = message.role
    if message.tool_calls:
        # Past calls in plain words: a small model copies any JSON it sees in the history
        # into its spoken answer. The system prompt still shows how to call a tool.
        calls = [
            f"(I used the tool {c.name}{_arguments(c.arguments)}.)" for c in message.tool_calls
        ]
        content = "\n".join([content, *calls]).strip()
    if role == "tool":
        # Chat templates of small local models do not all know a tool role.
        # Said as the tool's answer, with what to do next, or the model thanks the user
        # for "using the tool".
        role, content = "user", f"(The tool answered: {content}. Tell me in one short sentence.)"
    return {"role": role, "content": content}


def _take_memories(out: list[dict[str, str]]) -> str:
    """Cut the retrieved-memories section out of the system prompt and return it."""
    if not out or out[0]["role"] != "system" or MEMORY_HEADER not in out[0]["content"]:
        return ""
    head, header, memories = out[0]["content"].partition(MEMORY_HEADER)
    out[0] = {"role": "system", "content": head}
    return (header + memories).strip()


def _arguments(arguments: Mapping[str, object]) -> str:
    if not arguments:
        return ""
    return " with " + ", ".join(f"{key} {value}" for key, value in arguments.items())
