"""Small helpers of the v2 suite (the v1 suite's helpers.py is reused for errors and paging)."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

import openai

from helpers import assert_error, assert_id, assert_recent, iterate, unique  # noqa: F401 - re-exported

MODEL = "gpt-4o"
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
FUNCTION = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "strict": True,
                    "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
                               "required": ["answer"], "additionalProperties": False}},
}


def tag() -> str:
    return f"tag-{uuid.uuid4().hex}"


def assistant(client: openai.OpenAI, tag_: Optional[str] = None, **kw: Any):
    """An assistant whose instructions carry `tag_` (the fake upstream's script key)."""
    kw.setdefault("model", MODEL)
    kw.setdefault("instructions", f"You are terse. {tag_ or ''}".strip())
    return client.beta.assistants.create(**kw)


def upload(client: openai.OpenAI, content: bytes = b"hello world", name: str = "a.txt", purpose: str = "assistants"):
    return client.files.create(file=(name, content), purpose=purpose)


def counts_add_up(fc: Any) -> None:
    """file_counts of a vector store or batch: every bucket >= 0 and they sum to `total`."""
    parts = [fc.in_progress, fc.completed, fc.failed, fc.cancelled]
    assert all(isinstance(x, int) and x >= 0 for x in parts + [fc.total]), fc
    assert sum(parts) == fc.total, f"file_counts do not add up: {fc}"


def event_names(events: List[Any]) -> List[str]:
    return [e.event for e in events]


def raw_body(resp) -> Dict[str, Any]:
    return resp.http_response.json() if hasattr(resp, "http_response") else resp.json()
