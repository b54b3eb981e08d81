"""Unit tests of spec_validate.py itself; they need no server."""

import copy
import json
import re

import pytest

import spec_validate as sv
from spec_validate import SpecValidationError, validate_response

pytestmark = pytest.mark.no_server

ASSISTANT = {
    "id": "asst_abc123",
    "object": "assistant",
    "created_at": 1698984975,
    "name": "Math Tutor",
    "description": None,
    "model": "gpt-4-turbo",
    "instructions": "You are a personal math tutor.",
    "tools": [
        {"type": "code_interpreter"},
        {"type": "retrieval"},
        {"type": "function", "function": {"name": "f_1", "description": "d",
                                          "parameters": {"type": "object", "properties": {}}}},
    ],
    "file_ids": [],
    "metadata": {},
}

RUN = {
    "id": "run_abc123", "object": "thread.run", "created_at": 1699063290, "assistant_id": "asst_abc123",
    "thread_id": "thread_abc123", "status": "queued", "started_at": None, "expires_at": 1699063890,
    "cancelled_at": None, "failed_at": None, "completed_at": None, "last_error": None, "model": "gpt-4-turbo",
    "instructions": "", "tools": [{"type": "code_interpreter"}], "file_ids": [], "metadata": {},
    "required_action": None, "usage": None, "incomplete_details": None, "temperature": 1.0,
    "max_prompt_tokens": None, "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "tool_choice": "auto", "response_format": "auto",
}

MESSAGE = {
    "id": "msg_abc123", "object": "thread.message", "created_at": 1699017614, "thread_id": "thread_abc123",
    "status": "completed", "incomplete_details": None, "completed_at": 1699017614, "incomplete_at": None,
    "role": "user", "content": [{"type": "text", "text": {"value": "hi", "annotations": []}}],
    "assistant_id": None, "run_id": None, "file_ids": [], "metadata": {},
}

FILE = {"id": "file-abc123", "object": "file", "bytes": 5, "created_at": 1699061776, "filename": "a.txt",
        "purpose": "assistants", "status": "processed", "status_details": None}

ERROR = {"error": {"message": "No assistant found with id 'asst_x'.", "type": "invalid_request_error",
                   "param": None, "code": None}}


def test_spec_loads_with_known_corrections_only():
    spec = sv.load_spec()
    assert len(spec.operations) == 55
    assert "ListAssistantFilesResponse.required -items" in spec.corrections
    assert "ListMessageFilesResponse.required -items" in spec.corrections
    assert "OpenAIFile.status_details nullable" in spec.corrections
    for c in spec.corrections:
        assert re.fullmatch(r"List\w+Response\.(first_id|last_id) nullable|List(Assistant|Message)FilesResponse"
                            r"\.required -items|OpenAIFile\.status_details nullable", c), c


def test_valid_assistant_passes():
    assert validate_response("POST", "/v1/assistants", 200, ASSISTANT) == "/assistants"
    assert validate_response("GET", "http://127.0.0.1:1/v1/assistants/asst_abc123?x=1", 200,
                             ASSISTANT) == "/assistants/{assistant_id}"


@pytest.mark.parametrize("field", ["id", "object", "created_at", "name", "description", "model", "instructions",
                                   "tools", "file_ids", "metadata"])
def test_assistant_missing_required_field_fails(field):
    body = copy.deepcopy(ASSISTANT)
    del body[field]
    with pytest.raises(SpecValidationError, match=f"'{field}' is a required property"):
        validate_response("GET", "/v1/assistants/asst_abc123", 200, body)


@pytest.mark.parametrize("mutate, needle", [
    (lambda b: b.update(object="assistants"), "object"),
    (lambda b: b.update(created_at=1698984975.0), "created_at"),
    (lambda b: b.update(created_at="1698984975"), "created_at"),
    (lambda b: b.update(name="x" * 257), "name"),
    (lambda b: b.update(tools=[{"type": "retreival"}]), "tools"),
    (lambda b: b.update(tools=[{"type": "function"}]), "tools"),
    (lambda b: b.update(file_ids=None), "file_ids"),
    (lambda b: b.update(file_ids=[f"file-{i}" for i in range(21)]), "file_ids"),
    (lambda b: b.update(model=None), "model"),
    (lambda b: b.update(metadata=[]), "metadata"),
])
def test_assistant_wrong_values_fail(mutate, needle):
    body = copy.deepcopy(ASSISTANT)
    mutate(body)
    with pytest.raises(SpecValidationError) as e:
        validate_response("POST", "/v1/assistants/asst_abc123", 200, body)
    assert f".{needle}" in str(e.value)


def test_nullable_fields_accept_null():
    body = dict(ASSISTANT, name=None, instructions=None, metadata=None, description=None)
    validate_response("GET", "/v1/assistants/asst_1", 200, body)


def test_run_object():
    validate_response("POST", "/v1/threads/thread_abc123/runs", 200, RUN)
    # nullable written beside $ref
    validate_response("GET", "/v1/threads/t/runs/r", 200, dict(RUN, tool_choice=None, truncation_strategy=None,
                                                               response_format=None))
    validate_response("GET", "/v1/threads/t/runs/r", 200,
                      dict(RUN, tool_choice={"type": "function", "function": {"name": "f"}},
                           response_format={"type": "json_object"}))
    for bad in (dict(RUN, status="incomplete"), dict(RUN, instructions=None), dict(RUN, max_prompt_tokens=10),
                dict(RUN, tool_choice="required"), dict(RUN, truncation_strategy={"type": "all"}),
                {k: v for k, v in RUN.items() if k != "usage"}):
        with pytest.raises(SpecValidationError):
            validate_response("GET", "/v1/threads/t/runs/r", 200, bad)


def test_message_object():
    validate_response("GET", "/v1/threads/t/messages/m", 200, MESSAGE)
    with pytest.raises(SpecValidationError, match=r"at \.content\[0\]"):
        validate_response("GET", "/v1/threads/t/messages/m", 200,
                          dict(MESSAGE, content=[{"type": "text", "text": {"value": "hi"}}]))
    with pytest.raises(SpecValidationError, match=r"at \.role"):
        validate_response("GET", "/v1/threads/t/messages/m", 200, dict(MESSAGE, role="system"))


def test_path_matching_prefers_literal_segments():
    spec = sv.load_spec()
    assert spec.find_operation("post", "/threads/runs")[0] == "/threads/runs"
    assert spec.find_operation("post", "/threads/thread_1")[0] == "/threads/{thread_id}"
    assert spec.find_operation("get", "/threads/t/messages/m/files/f")[0] == \
        "/threads/{thread_id}/messages/{message_id}/files/{file_id}"
    assert spec.find_operation("post", "/threads/t/runs/r/cancel")[0] == "/threads/{thread_id}/runs/{run_id}/cancel"
    with pytest.raises(SpecValidationError, match="no operation"):
        spec.find_operation("get", "/threads")
    with pytest.raises(SpecValidationError, match="no operation"):
        spec.find_operation("delete", "/threads/t/messages/m")


def test_list_corrections():
    empty = {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    for path in ("/v1/assistants", "/v1/assistants/a/files", "/v1/threads/t/messages",
                 "/v1/threads/t/messages/m/files", "/v1/threads/t/runs", "/v1/threads/t/runs/r/steps"):
        validate_response("GET", path, 200, empty)
    # `items` is no longer required, but everything else still is.
    page = {"object": "list", "data": [{"id": "file-1", "object": "assistant.file", "created_at": 1,
                                        "assistant_id": "asst_1"}],
            "first_id": "file-1", "last_id": "file-1", "has_more": False}
    validate_response("GET", "/v1/assistants/a/files", 200, page)
    with pytest.raises(SpecValidationError, match="'has_more' is a required"):
        validate_response("GET", "/v1/assistants/a/files", 200, {k: v for k, v in page.items() if k != "has_more"})
    with pytest.raises(SpecValidationError, match="'first_id' is a required"):
        validate_response("GET", "/v1/assistants", 200, {k: v for k, v in empty.items() if k != "first_id"})
    with pytest.raises(SpecValidationError, match="'assistant_id' is a required"):
        validate_response("GET", "/v1/assistants/a/files", 200,
                          dict(page, data=[{"id": "file-1", "object": "assistant.file", "created_at": 1}]))


def test_file_object():
    validate_response("POST", "/v1/files", 200, FILE)
    validate_response("GET", "/v1/files", 200, {"object": "list", "data": [FILE]})
    validate_response("GET", "/v1/files/file-abc123", 200, dict(FILE, status_details="x"))
    with pytest.raises(SpecValidationError, match="'status' is a required property"):
        validate_response("GET", "/v1/files/file-abc123", 200, {k: v for k, v in FILE.items() if k != "status"})
    with pytest.raises(SpecValidationError, match=r"at \.purpose"):
        validate_response("GET", "/v1/files/file-abc123", 200, dict(FILE, purpose="other"))
    # raw content is not validated
    assert validate_response("GET", "/v1/files/file-abc123/content", 200, None) == "/files/{file_id}/content"
    assert sv.is_raw_body("GET", "/v1/files/file-abc123/content")
    assert not sv.is_raw_body("GET", "/v1/files/file-abc123")


def test_delete_responses():
    validate_response("DELETE", "/v1/files/file-1", 200, {"id": "file-1", "object": "file", "deleted": True})
    validate_response("DELETE", "/v1/assistants/asst_1", 200,
                      {"id": "asst_1", "object": "assistant.deleted", "deleted": True})
    with pytest.raises(SpecValidationError, match=r"at \.object"):
        validate_response("DELETE", "/v1/assistants/asst_1", 200,
                          {"id": "asst_1", "object": "assistant", "deleted": True})
    with pytest.raises(SpecValidationError, match=r"at \.deleted"):
        validate_response("DELETE", "/v1/threads/t", 200, {"id": "t", "object": "thread.deleted", "deleted": "yes"})


def test_error_bodies():
    validate_response("GET", "/v1/assistants/asst_x", 404, ERROR)
    validate_response("POST", "/v1/anything/not/in/spec", 400, ERROR)
    for key in ("message", "type", "param", "code"):
        bad = copy.deepcopy(ERROR)
        del bad["error"][key]
        with pytest.raises(SpecValidationError, match=f"lacks.*'{key}'"):
            validate_response("GET", "/v1/assistants/asst_x", 404, bad)
    with pytest.raises(SpecValidationError):
        validate_response("GET", "/v1/assistants/asst_x", 404, {"message": "not found"})
    with pytest.raises(SpecValidationError):
        validate_response("GET", "/v1/assistants/asst_x", 400,
                          {"error": {"message": None, "type": "x", "param": None, "code": None}})


def test_only_200_is_a_success_status():
    with pytest.raises(SpecValidationError, match="only a 200"):
        validate_response("POST", "/v1/assistants", 201, ASSISTANT)


def _example_bodies():
    spec = sv.load_spec()
    out = []
    for tpl, item in spec.raw["paths"].items():
        if not tpl.startswith(("/assistants", "/threads", "/files")):
            continue
        for method, op in item.items():
            examples = op.get("x-oaiMeta", {}).get("examples")
            for ex in examples if isinstance(examples, list) else [examples]:
                if not ex or not ex.get("response"):
                    continue
                try:
                    body = json.loads(re.sub(r",(\s*[}\]])", r"\1", ex["response"]))
                except ValueError:
                    continue  # SSE transcripts and JS-style examples
                out.append((method, tpl, body))
    return out


def test_spec_examples_of_assistant_objects_pass():
    """The spec's own examples for assistants / assistant files / threads conform to its schemas.

    (The message, run, run-step and file examples predate fields that the schemas now require, e.g.
    `status` on files and messages, `required_action` on runs; they are not used.)"""
    checked = 0
    for method, tpl, body in _example_bodies():
        if tpl.startswith("/assistants") or re.fullmatch(r"/threads(/\{thread_id\})?", tpl) \
                or tpl.startswith("/threads/{thread_id}/messages/{message_id}/files"):
            validate_response(method, "/v1" + tpl.replace("{", "").replace("}", ""), 200, body)
            checked += 1
    assert checked >= 14
