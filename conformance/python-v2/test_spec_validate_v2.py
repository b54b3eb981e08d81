"""Unit tests of spec_validate_v2.py itself; they need no server."""

import copy

import pytest

import spec_validate_v2 as sv
from spec_validate_v2 import SpecValidationError, validate_event, validate_request, validate_response, validate_sse

pytestmark = pytest.mark.no_server

ASSISTANT = {
    "id": "asst_abc123", "object": "assistant", "created_at": 1698984975, "name": "Math Tutor",
    "description": None, "model": "gpt-4o", "instructions": "Be brief.",
    "tools": [
        {"type": "code_interpreter"},
        {"type": "file_search", "file_search": {"max_num_results": 5,
                                                "ranking_options": {"ranker": "auto", "score_threshold": 0.0}}},
        {"type": "function", "function": {"name": "f_1", "description": "d", "strict": True,
                                          "parameters": {"type": "object", "properties": {}}}},
    ],
    "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}, "code_interpreter": {"file_ids": []}},
    "metadata": {}, "temperature": 1.0, "top_p": 1.0,
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"},
                                                               "strict": True}},
}

RUN = {
    "id": "run_abc123", "object": "thread.run", "created_at": 1699063290, "assistant_id": "asst_abc123",
    "thread_id": "thread_abc123", "status": "incomplete", "started_at": 1699063290, "expires_at": None,
    "cancelled_at": None, "failed_at": None, "completed_at": 1699063291, "last_error": None, "model": "gpt-4o",
    "instructions": "", "tools": [{"type": "file_search"}], "metadata": {},
    "required_action": None, "usage": {"prompt_tokens": 1, "completion_tokens": 256, "total_tokens": 257},
    "incomplete_details": {"reason": "max_completion_tokens"}, "temperature": 1.0, "top_p": 1.0,
    "max_prompt_tokens": None, "max_completion_tokens": 256,
    "truncation_strategy": {"type": "last_messages", "last_messages": 2},
    "tool_choice": "required", "response_format": "auto", "parallel_tool_calls": False,
}

MESSAGE = {
    "id": "msg_abc123", "object": "thread.message", "created_at": 1699017614, "thread_id": "thread_abc123",
    "status": "completed", "incomplete_details": None, "completed_at": 1699017614, "incomplete_at": None,
    "role": "user", "content": [{"type": "text", "text": {"value": "hi", "annotations": []}},
                                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}],
    "assistant_id": None, "run_id": None,
    "attachments": [{"file_id": "file-1", "tools": [{"type": "file_search"}]}], "metadata": {},
}

VECTOR_STORE = {
    "id": "vs_abc", "object": "vector_store", "created_at": 1, "name": "", "usage_bytes": 0,
    "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
    "status": "completed", "expires_after": None, "expires_at": None, "last_active_at": 1, "metadata": None,
}

FILE = {"id": "file-abc123", "object": "file", "bytes": 5, "created_at": 1699061776, "filename": "a.txt",
        "purpose": "assistants", "status": "processed", "status_details": None, "expires_at": None}


def test_spec_loads_with_the_known_corrections_only():
    spec = sv.load_spec()
    assert len(spec.operations) == 44
    assert len(spec.events) == 25
    assert "done" in spec.events and "error" in spec.events and "thread.run.incomplete" in spec.events
    expected = {f"{n}.{f} nullable" for n in sv.CURSOR_LIST_SCHEMAS for f in ("first_id", "last_id")} | {
        "OpenAIFile.status_details nullable", "OpenAIFile.expires_at nullable",
        "VectorStoreObject.expires_after nullable", "nullable: true honoured (3.0 meaning)",
        "CreateMessageRequest.attachments required -> items [file_id]", "CompoundFilter $recursiveRef -> $ref",
        "VectorStoreObject.name kept a non-null string"}
    assert set(spec.corrections) == expected


def test_each_correction_refuses_a_spec_without_its_flaw():
    raw = sv._load_yaml_spec(sv.spec_dir())["components"]["schemas"]
    fixes = [
        lambda s: s["ListRunsResponse"]["properties"].__setitem__("first_id", {"anyOf": [{"type": "string"},
                                                                                         {"type": "null"}]}),
        lambda s: s["OpenAIFile"]["properties"]["expires_at"].__setitem__("nullable", True),
        lambda s: s["VectorStoreObject"]["properties"].__setitem__("expires_after", {"type": "null"}),
        lambda s: s["RunObject"]["properties"]["expires_at"].pop("nullable"),
        lambda s: s["CreateMessageRequest"]["properties"]["attachments"]["anyOf"][0].pop("required"),
        lambda s: s["CompoundFilter"].pop("$recursiveAnchor"),
        lambda s: s["VectorStoreObject"]["properties"]["name"].__setitem__("type", ["string", "null"]),
    ]
    for fix in fixes:
        schemas = copy.deepcopy(raw)
        fix(schemas)
        with pytest.raises(ValueError, match="spec changed"):
            sv.apply_known_corrections(schemas)


def test_objects_pass():
    assert validate_response("POST", "/v1/assistants", 200, ASSISTANT) == "/assistants"
    assert validate_response("GET", "/v1/threads/t/runs/r", 200, RUN) == "/threads/{thread_id}/runs/{run_id}"
    assert validate_response("POST", "/v1/threads/runs", 200, RUN) == "/threads/runs"
    validate_response("GET", "/v1/threads/t/messages/m", 200, MESSAGE)
    validate_response("POST", "/v1/vector_stores", 200, VECTOR_STORE)
    validate_response("POST", "/v1/files", 200, FILE)
    validate_response("DELETE", "/v1/threads/t/messages/m", 200,
                      {"id": "msg_1", "object": "thread.message.deleted", "deleted": True})


@pytest.mark.parametrize("schema", list(sv.CURSOR_LIST_SCHEMAS))
def test_empty_pages_have_null_cursors(schema):
    sv.validate_against(schema, {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})


def test_v1_shapes_fail_under_v2():
    a = copy.deepcopy(ASSISTANT)
    a["tools"] = [{"type": "retrieval"}]
    with pytest.raises(SpecValidationError, match="tools"):
        validate_response("GET", "/v1/assistants/a", 200, a)
    m = copy.deepcopy(MESSAGE)
    del m["attachments"]
    with pytest.raises(SpecValidationError, match="'attachments' is a required property"):
        validate_response("GET", "/v1/threads/t/messages/m", 200, m)
    r = copy.deepcopy(RUN)
    del r["parallel_tool_calls"]
    with pytest.raises(SpecValidationError, match="parallel_tool_calls"):
        validate_response("GET", "/v1/threads/t/runs/r", 200, r)


def test_nullable_allof_and_nullable_ref_are_honoured():
    r = copy.deepcopy(RUN)
    r.update(truncation_strategy=None, tool_choice=None, response_format=None, expires_at=None)
    validate_response("GET", "/v1/threads/t/runs/r", 200, r)
    r["tool_choice"] = {"type": "file_search"}
    validate_response("GET", "/v1/threads/t/runs/r", 200, r)
    r["tool_choice"] = "sometimes"
    with pytest.raises(SpecValidationError):
        validate_response("GET", "/v1/threads/t/runs/r", 200, r)


def test_vector_store_rules():
    vs = copy.deepcopy(VECTOR_STORE)
    vs["name"] = None  # correction 7 keeps name strict
    with pytest.raises(SpecValidationError, match="name"):
        validate_response("GET", "/v1/vector_stores/vs_abc", 200, vs)
    vs = copy.deepcopy(VECTOR_STORE)
    del vs["file_counts"]["cancelled"]
    with pytest.raises(SpecValidationError, match="cancelled"):
        validate_response("GET", "/v1/vector_stores/vs_abc", 200, vs)
    vs = copy.deepcopy(VECTOR_STORE)
    vs["expires_after"] = {"anchor": "last_active_at", "days": 0}
    with pytest.raises(SpecValidationError, match="days"):
        validate_response("GET", "/v1/vector_stores/vs_abc", 200, vs)


def test_integers_are_strict_and_errors_need_four_keys():
    r = copy.deepcopy(RUN)
    r["created_at"] = 1699063290.0
    with pytest.raises(SpecValidationError, match="created_at"):
        validate_response("GET", "/v1/threads/t/runs/r", 200, r)
    validate_response("POST", "/v1/assistants", 400, {"error": {"message": "m", "type": "invalid_request_error",
                                                                 "param": "file_ids", "code": None}})
    with pytest.raises(SpecValidationError, match="code"):
        validate_response("POST", "/v1/assistants", 400, {"error": {"message": "m", "type": "t", "param": None}})


def test_literal_segments_beat_parameters_and_unknown_paths_fail():
    spec = sv.load_spec()
    assert spec.find_operation("post", "/threads/runs").operation_id == "createThreadAndRun"
    assert spec.find_operation("post", "/vector_stores/vs_1/search").operation_id == "searchVectorStore"
    with pytest.raises(SpecValidationError, match="no operation"):
        validate_response("GET", "/v1/assistants/a/files", 200, {})


def test_stream_events_by_name():
    validate_event("thread.run.incomplete", RUN)
    validate_event("thread.message.delta", {"id": "msg_1", "object": "thread.message.delta",
                                            "delta": {"content": [{"index": 0, "type": "text",
                                                                   "text": {"value": "Hi", "annotations": []}}]}})
    validate_event("thread.run.step.delta", {"id": "step_1", "object": "thread.run.step.delta", "delta": {
        "step_details": {"type": "tool_calls", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "file_search", "file_search": {}}]}}})
    validate_event("error", {"message": "m", "type": "server_error", "param": None, "code": None})
    validate_event("done", "[DONE]")
    with pytest.raises(SpecValidationError, match="thread.run.incomplete"):
        validate_event("thread.run.incomplete", MESSAGE)  # the branch is chosen by name
    with pytest.raises(SpecValidationError, match="not an AssistantStreamEvent"):
        validate_event("thread.run.step.retrieval", {})


def test_whole_streams():
    body = ("event: thread.run.created\ndata: " + __import__("json").dumps(RUN) + "\n\n"
            ": keep-alive\n\n"
            "event: done\ndata: [DONE]\n\n")
    assert validate_sse("POST", "/v1/threads/t/runs", body) == ["thread.run.created", "done"]
    with pytest.raises(SpecValidationError, match="does not end with"):
        validate_sse("POST", "/v1/threads/t/runs", body.rsplit("event: done", 1)[0])
    with pytest.raises(SpecValidationError, match="not JSON"):
        validate_sse("POST", "/v1/threads/t/runs", "event: thread.run.created\ndata: {\n\nevent: done\ndata: [DONE]\n\n")


def test_requests_with_corrections_5_and_6():
    validate_request("POST", "/v1/threads/t/messages", {
        "role": "user", "content": "x", "attachments": [{"file_id": "file-1"}]})
    with pytest.raises(SpecValidationError, match="attachments"):
        validate_request("POST", "/v1/threads/t/messages", {"role": "user", "content": "x",
                                                            "attachments": [{"tools": []}]})
    nested = {"type": "and", "filters": [{"type": "eq", "key": "k", "value": "v"},
                                         {"type": "or", "filters": [{"type": "gt", "key": "n", "value": 1}]}]}
    validate_request("POST", "/v1/vector_stores/vs_1/search", {"query": "q", "filters": nested})
    bad = copy.deepcopy(nested)
    bad["filters"][1]["type"] = "xor"
    with pytest.raises(SpecValidationError):
        validate_request("POST", "/v1/vector_stores/vs_1/search", {"query": "q", "filters": bad})
