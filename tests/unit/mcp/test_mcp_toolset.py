"""Registry names, the merged registry, and what the model reads of results."""

from __future__ import annotations

from mcp_types import CallToolResult, ImageContent, TextContent, Tool

from tars.services.mcp import toolset


def test_names_round_trip() -> None:
    name = toolset.qualified("movement", "move")
    assert name == "mcp__movement__move"
    assert toolset.split_name(name) == ("movement", "move")
    assert toolset.split_name("move") is None
    assert toolset.split_name("mcp____move") is None


def test_registry_keeps_callable_names_only() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    tools = [
        Tool(name="move", description="Move.", input_schema=schema),
        Tool(name="bad name!", input_schema={}),
    ]
    registry = toolset.build_registry([("movement", tools), ("camera", [])])
    assert [spec.function["name"] for spec in registry.tools] == ["mcp__movement__move"]
    assert registry.tools[0].function["parameters"] == schema
    assert registry.tools[0].function["description"] == "Move."


def test_result_text_summarises_images_and_clips() -> None:
    result = CallToolResult(
        content=[
            TextContent(text="x" * 50),
            ImageContent(data="QUJD" * 10, mime_type="image/jpeg"),
        ]
    )
    text = toolset.result_text(result, 40)
    assert len(text) <= 40
    assert text.endswith("[truncated]")
    assert "[image image/jpeg, 30 bytes]" in toolset.result_text(result, 1000)
    assert toolset.images(result) == [{"mime_type": "image/jpeg", "data": "QUJD" * 10}]


def test_reply_text_hides_long_strings() -> None:
    text = toolset.reply_text({"image_data": "A" * 10_000, "width": 320}, 1000)
    assert text == '{"image_data":"<10000 characters>","width":320}'
