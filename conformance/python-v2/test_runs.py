"""Runs and steps under v2 (openai 3.63.0): create_and_poll, include[], parallel_tool_calls,
tool_choice "required", truncation_strategy, json_schema / reasoning_effort reaching the upstream,
`incomplete` through a token budget, submit_tool_outputs_and_poll, create_and_run(_poll), cancel."""

import openai
import pytest
from fake_upstream import hang, text, tool_calls

from helpers_v2 import FUNCTION, INCLUDE, JSON_SCHEMA_FORMAT, assert_error, assert_id, assistant, iterate, tag


def test_create_and_poll_with_include_and_v2_parameters(client, upstream):
    tg = tag()
    upstream.script(tg, text("Hel", "lo"))
    a = assistant(client, tg, tools=[{"type": "function", "function": FUNCTION}])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, include=[INCLUDE],
        parallel_tool_calls=False, tool_choice="required",
        truncation_strategy={"type": "last_messages", "last_messages": 5},
        response_format=JSON_SCHEMA_FORMAT, reasoning_effort="high",
        max_prompt_tokens=2000, max_completion_tokens=1000, temperature=0.3)
    assert_id(run.id, "run")
    assert run.status == "completed", run
    assert run.parallel_tool_calls is False
    assert run.tool_choice == "required"
    assert run.truncation_strategy.type == "last_messages" and run.truncation_strategy.last_messages == 5
    assert run.response_format.type == "json_schema"
    assert (run.max_prompt_tokens, run.max_completion_tokens) == (2000, 1000)
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens == 2
    body = upstream.wait_for_requests(tg, 1)[0].body
    assert body["parallel_tool_calls"] is False
    assert body["tool_choice"] == "required"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "answer"
    assert body["reasoning_effort"] == "high"
    msgs = client.beta.threads.messages.list(t.id, run_id=run.id).data
    assert [m.content[0].text.value for m in msgs] == ["Hello"]
    assert msgs[0].attachments == [] or msgs[0].attachments is None


def test_steps_list_and_retrieve_with_include(client, upstream):
    tg = tag()
    upstream.script(tg, text("ok"))
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=t.id, include=[INCLUDE]).data
    assert len(steps) == 1 and steps[0].type == "message_creation"
    s = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=t.id, run_id=run.id, include=[INCLUDE])
    assert s.id == steps[0].id and s.status == "completed"
    assert s.step_details.message_creation.message_id
    assert s.usage is not None
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.runs.steps.list(run.id, thread_id=t.id, include=["step_details.nonsense"])
    assert_error(ei, 400, param_prefix="include")


def test_max_completion_tokens_ends_incomplete(client, upstream):
    tg = tag()
    upstream.script(tg, text("cut", " short", finish="length", completion_tokens=256))
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "write a lot"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, max_completion_tokens=256)
    assert run.status == "incomplete", run
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.completed_at is not None and run.failed_at is None
    msg = client.beta.threads.messages.list(t.id, run_id=run.id).data[0]
    assert msg.status == "incomplete"
    assert msg.incomplete_details.reason == "max_tokens"
    assert msg.content[0].text.value == "cut short"


def test_function_call_then_submit_tool_outputs_and_poll(client, upstream):
    tg = tag()
    upstream.script(tg, tool_calls(("get_weather", '{"city": "Paris"}')), text("Sunny."))
    a = assistant(client, tg, tools=[{"type": "function", "function": FUNCTION}])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, parallel_tool_calls=False)
    assert run.status == "requires_action", run
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather"]
    assert run.tools[0].function.strict is True
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "22C"}], run_id=run.id, thread_id=t.id)
    assert done.status == "completed", done
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == "22C"


def test_create_and_run_and_create_and_run_poll(client, upstream):
    tg = tag()
    upstream.script(tg, text("one"), text("two"))
    vs = client.vector_stores.create()
    a = assistant(client, tg)
    run = client.beta.threads.create_and_run(
        assistant_id=a.id,
        thread={"messages": [{"role": "user", "content": "a"}],
                "tool_resources": {"file_search": {"vector_store_ids": [vs.id]}}},
        # run-level resources (the Run object does not show them): accepted
        tool_resources={"code_interpreter": {"file_ids": []}}, parallel_tool_calls=True)
    assert run.status in ("queued", "in_progress", "completed") and run.parallel_tool_calls is True
    assert client.beta.threads.retrieve(run.thread_id).tool_resources.file_search.vector_store_ids == [vs.id]
    done = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
    assert done.status == "completed"
    run2 = client.beta.threads.create_and_run_poll(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "b"}]})
    assert run2.status == "completed" and run2.thread_id != run.thread_id
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(run2.thread_id).data]
    assert texts == ["two", "b"]


def test_retrieve_update_list_cancel(client, upstream):
    tg = tag()
    upstream.script(tg, hang())
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, metadata={"a": "1"})
    upstream.wait_for_requests(tg, 1)
    got = client.beta.threads.runs.retrieve(run.id, thread_id=t.id)
    assert got.id == run.id and got.status == "in_progress" and got.parallel_tool_calls is True
    up = client.beta.threads.runs.update(run.id, thread_id=t.id, metadata={"a": "2"})
    assert up.metadata == {"a": "2"}
    assert [r.id for r in iterate(client.beta.threads.runs.list(t.id))] == [run.id]
    c = client.beta.threads.runs.cancel(run.id, thread_id=t.id)
    assert c.status in ("cancelling", "cancelled")
    final = client.beta.threads.runs.poll(run.id, thread_id=t.id)
    assert final.status == "cancelled" and final.cancelled_at is not None


def test_additional_messages_with_attachments(client, upstream):
    tg = tag()
    upstream.script(tg, text("seen"))
    a = assistant(client, tg)
    t = client.beta.threads.create()
    f = client.files.create(file=("x.txt", b"x"), purpose="assistants")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, additional_instructions="extra",
        additional_messages=[{"role": "user", "content": "with file",
                              "attachments": [{"file_id": f.id, "tools": [{"type": "file_search"}]}]}])
    assert run.status == "completed", run
    msgs = client.beta.threads.messages.list(t.id, order="asc").data
    assert msgs[0].content[0].text.value == "with file"
    assert msgs[0].attachments[0].file_id == f.id
    assert "extra" in str(upstream.requests(tg)[0].messages)


def test_bad_run_parameters(client):
    a = client.beta.assistants.create(model="gpt-4o")
    t = client.beta.threads.create()
    for kw, param in [
        ({"max_completion_tokens": 10}, "max_completion_tokens"),
        ({"truncation_strategy": {"type": "last_messages", "last_messages": 0}}, "truncation_strategy"),
        ({"tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"reasoning_effort": "enormous"}, "reasoning_effort"),
    ]:
        with pytest.raises(openai.BadRequestError) as ei:
            client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, **kw)
        assert_error(ei, 400, param_prefix=param)
