"""Operations 20-28: runs and run steps, through openai==1.20.0.

The `server` fixture runs no workers (ASSISTD_WORKERS=0), so runs stay `queued` here; a queued run is
active, so its thread takes neither another run nor a new message until the run ends.
test_run_engine.py covers runs that execute."""

import openai
import pytest

from helpers import (MODEL, assert_error, assert_id, assert_recent, collect_all, expect_not_found, page_ids,
                     raw_json, unique, upload)

FN = {"type": "function", "function": {"name": "lookup", "description": "look up",
                                       "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


@pytest.fixture
def assistant(client):
    f = upload(client, b"knowledge", "kb.txt")
    return client.beta.assistants.create(
        model=MODEL, name=unique("runner"), instructions="Assistant instructions.",
        tools=[{"type": "code_interpreter"}, {"type": "retrieval"}, FN], file_ids=[f.id],
    )


@pytest.fixture
def thread(client):
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])


def assert_fresh_queued_run(run, assistant, thread_id):
    assert_id(run.id, "run")
    assert run.object == "thread.run"
    assert_recent(run.created_at)
    assert run.thread_id == thread_id
    assert run.assistant_id == assistant.id
    assert run.status == "queued"
    assert run.required_action is None
    assert run.last_error is None
    assert run.started_at is None
    assert run.cancelled_at is None
    assert run.failed_at is None
    assert run.completed_at is None
    assert run.usage is None
    assert isinstance(run.expires_at, int) and run.expires_at > run.created_at


# --- 22. createRun ----------------------------------------------------------------------------

def test_create_run_inherits_from_assistant(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert_fresh_queued_run(run, assistant, thread.id)
    assert run.model == assistant.model
    assert run.instructions == "Assistant instructions."
    assert [t.model_dump() for t in run.tools] == [t.model_dump() for t in assistant.tools]
    assert run.file_ids == assistant.file_ids
    assert run.metadata in ({}, None)


def test_create_run_overrides_win(client, assistant, thread):
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, model="gpt-4", instructions="Override.",
        tools=[{"type": "code_interpreter"}], metadata={"k": "v"}, temperature=0.5,
        max_prompt_tokens=1000, max_completion_tokens=500,
        truncation_strategy={"type": "last_messages", "last_messages": 3},
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        response_format={"type": "json_object"},
    )
    assert_fresh_queued_run(run, assistant, thread.id)
    assert run.model == "gpt-4"
    assert run.instructions == "Override."
    assert [t.type for t in run.tools] == ["code_interpreter"]
    assert run.file_ids == assistant.file_ids
    assert run.metadata == {"k": "v"}
    assert run.temperature == 0.5
    assert run.max_prompt_tokens == 1000
    assert run.max_completion_tokens == 500
    assert run.truncation_strategy.type == "last_messages"
    assert run.truncation_strategy.last_messages == 3
    body = raw_json(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id))
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert body["response_format"] == {"type": "json_object"}


def test_create_run_with_additional_messages(client, assistant, thread):
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id,
        additional_messages=[{"role": "user", "content": "extra one"}, {"role": "assistant", "content": "extra two"}],
    )
    assert run.status == "queued"
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc").data]
    assert texts == ["Hello", "extra one", "extra two"]


def test_create_run_assistant_without_instructions_has_string_instructions(client, thread):
    a = client.beta.assistants.create(model=MODEL)
    run = client.beta.threads.runs.create(thread.id, assistant_id=a.id)
    assert isinstance(run.instructions, str)
    assert run.tools == []
    assert run.file_ids == []


def test_create_run_unknown_thread_is_404(client, assistant):
    expect_not_found(client.beta.threads.runs.create, "thread_doesnotexist000000000000", assistant_id=assistant.id)


def test_create_run_unknown_assistant_is_an_error(client, thread):
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)) as ei:
        client.beta.threads.runs.create(thread.id, assistant_id="asst_doesnotexist000000000000")
    err = assert_error(ei, ei.value.status_code)
    if ei.value.status_code == 400:
        assert err["param"] == "assistant_id", err
    assert client.beta.threads.runs.list(thread.id).data == []


@pytest.mark.parametrize("kwargs, param", [
    ({"temperature": 3}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"extra_body": {"top_p": 1.5}}, "top_p"),  # the 1.20 SDK has no top_p argument
    ({"max_prompt_tokens": 255}, "max_prompt_tokens"),
    ({"max_completion_tokens": 10}, "max_completion_tokens"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"tools": [{"type": "code_interpreter"}] * 21}, "tools"),
    ({"truncation_strategy": {"type": "last_messages", "last_messages": 0}}, "truncation_strategy"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
])
def test_create_run_invalid_is_400(client, assistant, thread, kwargs, param):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, **kwargs)
    assert_error(ei, 400, param_prefix=param)
    assert client.beta.threads.runs.list(thread.id).data == []


def test_create_run_without_assistant_id_is_400(raw, thread):
    r = raw.post(f"/v1/threads/{thread.id}/runs", json={})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "assistant_id"


# --- 20. createThreadAndRun -------------------------------------------------------------------

def test_create_thread_and_run(client, assistant):
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Solve x+1=2"}], "metadata": {"t": "1"}},
        metadata={"r": "1"}, instructions="Run instructions.",
    )
    assert_id(run.thread_id, "thread")
    assert_fresh_queued_run(run, assistant, run.thread_id)
    assert run.instructions == "Run instructions."
    assert run.model == assistant.model
    assert run.file_ids == assistant.file_ids
    assert [t.type for t in run.tools] == ["code_interpreter", "retrieval", "function"]
    assert run.metadata == {"r": "1"}
    t = client.beta.threads.retrieve(run.thread_id)
    assert t.metadata == {"t": "1"}
    msgs = client.beta.threads.messages.list(run.thread_id).data
    assert [m.content[0].text.value for m in msgs] == ["Solve x+1=2"]
    assert page_ids(client.beta.threads.runs.list(run.thread_id)) == [run.id]


def test_create_thread_and_run_without_thread(client, assistant):
    run = client.beta.threads.create_and_run(assistant_id=assistant.id)
    assert run.status == "queued"
    assert client.beta.threads.retrieve(run.thread_id).id == run.thread_id
    assert client.beta.threads.messages.list(run.thread_id).data == []


def test_create_thread_and_run_unknown_assistant_is_an_error(client):
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)) as ei:
        client.beta.threads.create_and_run(assistant_id="asst_doesnotexist000000000000",
                                           thread={"messages": [{"role": "user", "content": "x"}]})
    assert_error(ei, ei.value.status_code)


def test_create_thread_and_run_invalid_is_400(client, assistant):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.create_and_run(assistant_id=assistant.id, temperature=3)
    assert_error(ei, 400, param="temperature")


# --- 23. getRun / 24. modifyRun ---------------------------------------------------------------

def test_retrieve_and_update_run(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, metadata={"a": "1"})
    got = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert got.model_dump() == run.model_dump()
    u = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"b": "2"})
    assert u.id == run.id
    assert u.metadata == {"b": "2"}
    assert u.status == run.status
    assert u.instructions == run.instructions
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).metadata == {"b": "2"}


def test_run_unknown_ids_are_404(client, assistant, thread):
    missing = "run_doesnotexist000000000000"
    expect_not_found(client.beta.threads.runs.retrieve, missing, thread_id=thread.id)
    expect_not_found(client.beta.threads.runs.update, missing, thread_id=thread.id, metadata={"a": "b"})
    expect_not_found(client.beta.threads.runs.cancel, missing, thread_id=thread.id)
    expect_not_found(client.beta.threads.runs.steps.list, missing, thread_id=thread.id)
    expect_not_found(client.beta.threads.runs.submit_tool_outputs, missing, thread_id=thread.id,
                     tool_outputs=[{"tool_call_id": "call_x", "output": "1"}])
    # a run is only reachable through its own thread
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    other = client.beta.threads.create()
    expect_not_found(client.beta.threads.runs.retrieve, run.id, thread_id=other.id)


# --- 21. listRuns -----------------------------------------------------------------------------

def test_list_runs_order_and_cursors(client, assistant):
    t = client.beta.threads.create()
    ids = []
    for i in range(4):
        run = client.beta.threads.runs.create(t.id, assistant_id=assistant.id, metadata={"i": str(i)})
        ids.append(run.id)
        # Settle the run so that the next one is not refused as concurrent.
        client.beta.threads.runs.cancel(run.id, thread_id=t.id)
    assert page_ids(client.beta.threads.runs.list(t.id)) == list(reversed(ids))
    assert page_ids(client.beta.threads.runs.list(t.id, order="asc")) == ids
    assert page_ids(client.beta.threads.runs.list(t.id, order="asc", after=ids[1])) == ids[2:]
    assert page_ids(client.beta.threads.runs.list(t.id, order="desc", before=ids[1])) == [ids[3], ids[2]]
    body = raw_json(client.beta.threads.runs.with_raw_response.list(t.id, limit=3))
    assert [x["id"] for x in body["data"]] == [ids[3], ids[2], ids[1]]
    assert body["first_id"] == ids[3] and body["last_id"] == ids[1] and body["has_more"] is True
    assert collect_all(client.beta.threads.runs.list(t.id, limit=3)) == list(reversed(ids))


def test_list_runs_empty(client):
    t = client.beta.threads.create()
    body = raw_json(client.beta.threads.runs.with_raw_response.list(t.id))
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


# --- 26. cancelRun ----------------------------------------------------------------------------

def test_cancel_queued_run(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    c = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert c.id == run.id
    assert c.status in ("cancelling", "cancelled")
    if c.status == "cancelled":
        assert isinstance(c.cancelled_at, int)
        assert_recent(c.cancelled_at)
    got = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert got.status in ("cancelling", "cancelled")


def test_cancel_cancelled_run_is_400(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    c = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    if c.status != "cancelled":
        pytest.skip("the run is still cancelling; a second cancel is not terminal-state behaviour")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert_error(ei, 400)


def test_cancelled_run_frees_the_thread(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert client.beta.threads.runs.cancel(run.id, thread_id=thread.id).status == "cancelled"
    m = client.beta.threads.messages.create(thread.id, role="user", content="after the run")
    assert m.thread_id == thread.id
    run2 = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert run2.status == "queued"
    assert page_ids(client.beta.threads.runs.list(thread.id)) == [run2.id, run.id]


# --- one active run per thread ----------------------------------------------------------------

def test_second_run_on_a_thread_with_a_queued_run_is_400(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    err = assert_error(ei, 400)
    assert run.id in err["message"], err
    assert page_ids(client.beta.threads.runs.list(thread.id)) == [run.id]
    # another thread is not affected
    other = client.beta.threads.create()
    assert client.beta.threads.runs.create(other.id, assistant_id=assistant.id).status == "queued"


def test_message_on_a_thread_with_a_queued_run_is_400(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.messages.create(thread.id, role="user", content="too soon")
    err = assert_error(ei, 400)
    assert run.id in err["message"], err
    assert [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id).data] == ["Hello"]


def test_run_responses_carry_the_default_poll_after_header(client, assistant, thread):
    raw = client.beta.threads.runs.with_raw_response.create(thread.id, assistant_id=assistant.id)
    assert raw.headers.get("openai-poll-after-ms") == "100"
    run = raw.parse()
    for raw in (client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id),
                client.beta.threads.runs.with_raw_response.update(run.id, thread_id=thread.id, metadata={"a": "b"}),
                client.beta.threads.runs.with_raw_response.cancel(run.id, thread_id=thread.id)):
        assert raw.headers.get("openai-poll-after-ms") == "100"
        assert raw.parse().id == run.id


# --- 25. submitToolOutputs --------------------------------------------------------------------

def test_submit_tool_outputs_on_queued_run_is_400(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id,
                                                     tool_outputs=[{"tool_call_id": "call_abc", "output": "42"}])
    assert_error(ei, 400)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "queued"


# --- 27-28. run steps -------------------------------------------------------------------------

def test_run_steps_list_and_unknown_step(client, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    for s in steps.data:
        assert_id(s.id, "step")
        assert s.run_id == run.id
        assert s.thread_id == thread.id
        assert s.object == "thread.run.step"
    body = raw_json(client.beta.threads.runs.steps.with_raw_response.list(run.id, thread_id=thread.id,
                                                                          order="asc", limit=5))
    assert body["object"] == "list"
    assert [x["id"] for x in body["data"]] == page_ids(steps)[::-1][:5]
    if not body["data"]:
        assert body["first_id"] is None and body["last_id"] is None and body["has_more"] is False
    expect_not_found(client.beta.threads.runs.steps.retrieve, "step_doesnotexist000000000000",
                     thread_id=thread.id, run_id=run.id)
    for s in steps.data:
        got = client.beta.threads.runs.steps.retrieve(s.id, thread_id=thread.id, run_id=run.id)
        assert got.model_dump() == s.model_dump()
