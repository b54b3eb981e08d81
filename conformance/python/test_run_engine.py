"""The run engine, through openai==1.20.0: runs executed against a fake OpenAI-compatible upstream.

The `engine_server` runs ASSISTD_WORKERS=4 with ASSISTD_UPSTREAM_URL pointing at `fake_upstream.FakeUpstream`;
every response still goes through the spec validation hook. Each test scripts the upstream's replies
under a tag of its own, which it puts into its assistant's instructions (the system message upstream).
"""

import time

import openai
import pytest

from conftest import ENGINE_POLL_AFTER_MS, UPSTREAM_KEY
from fake_upstream import Error, drop, hang, text, tool_calls
from helpers import MODEL, assert_error, assert_id, assert_recent, page_ids, unique

pytestmark = pytest.mark.timeout(90)

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The time in a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
POLL_AFTER = str(ENGINE_POLL_AFTER_MS)


@pytest.fixture
def c(engine_client):
    return engine_client


@pytest.fixture
def tag(upstream):
    return upstream.new_tag()


def make_assistant(client, tag, tools=()):
    return client.beta.assistants.create(model=MODEL, name=unique("engine"),
                                         instructions=f"You are a test assistant [{tag}].", tools=list(tools))


def usage_of(obj):
    return None if obj.usage is None else obj.usage.model_dump()


def usage(prompt, completion):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def turns(rec):
    """(role, content) of every message of an upstream request."""
    return [(m["role"], m.get("content")) for m in rec.messages]


def text_of(message):
    assert len(message.content) == 1, message.content
    assert message.content[0].type == "text"
    return message.content[0].text.value


def wait_until(fn, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def assert_completed(run):
    assert run.status == "completed", (run.status, run.last_error)
    assert run.required_action is None
    assert run.last_error is None
    assert run.cancelled_at is None and run.failed_at is None
    assert isinstance(run.started_at, int) and isinstance(run.completed_at, int)
    assert run.created_at <= run.started_at <= run.completed_at
    assert_recent(run.completed_at)


# --- a text turn --------------------------------------------------------------------------------

def test_create_and_poll_completes_with_the_upstream_text(c, upstream, tag):
    upstream.script(tag, text("Hello", ", wor", "ld!", prompt_tokens=21))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Say hello"}])

    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert_id(run.id, "run")
    assert run.thread_id == t.id and run.assistant_id == a.id
    assert_completed(run)
    assert run.model == MODEL
    assert run.instructions == a.instructions
    assert usage_of(run) == usage(21, 3)

    msgs = c.beta.threads.messages.list(t.id).data
    assert [m.role for m in msgs] == ["assistant", "user"]
    m = msgs[0]
    assert_id(m.id, "msg")
    assert text_of(m) == "Hello, world!"
    assert m.content[0].text.annotations == []
    assert m.thread_id == t.id
    assert m.assistant_id == a.id
    assert m.run_id == run.id
    assert m.status == "completed"
    assert isinstance(m.completed_at, int) and m.incomplete_at is None and m.incomplete_details is None
    assert m.file_ids == []
    assert text_of(msgs[1]) == "Say hello" and msgs[1].run_id is None
    assert page_ids(c.beta.threads.messages.list(t.id, run_id=run.id)) == [m.id]
    assert c.beta.threads.messages.retrieve(m.id, thread_id=t.id).model_dump() == m.model_dump()

    [rec] = upstream.requests(tag)
    assert rec.path == "/v1/chat/completions"
    assert rec.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}"
    assert rec.body["model"] == MODEL
    assert rec.body["stream"] is True
    assert rec.body["stream_options"] == {"include_usage": True}
    assert rec.body.get("tools", []) == []
    assert turns(rec) == [("system", a.instructions), ("user", "Say hello")]
    assert upstream.pending(tag) == 0


def test_create_and_run_poll_completes(c, upstream, tag):
    upstream.script(tag, text("2 + 2 ", "= 4"))
    a = make_assistant(c, tag)
    run = c.beta.threads.create_and_run_poll(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "What is 2+2?"}], "metadata": {"t": "1"}},
        metadata={"r": "1"})
    assert_id(run.thread_id, "thread")
    assert_completed(run)
    assert run.metadata == {"r": "1"}
    assert usage_of(run) == usage(11, 2)
    assert c.beta.threads.retrieve(run.thread_id).metadata == {"t": "1"}
    msgs = c.beta.threads.messages.list(run.thread_id, order="asc").data
    assert [(m.role, text_of(m)) for m in msgs] == [("user", "What is 2+2?"), ("assistant", "2 + 2 = 4")]
    assert msgs[1].run_id == run.id and msgs[1].assistant_id == a.id
    assert page_ids(c.beta.threads.runs.list(run.thread_id)) == [run.id]
    [rec] = upstream.requests(tag)
    assert turns(rec) == [("system", a.instructions), ("user", "What is 2+2?")]


def test_a_second_run_sees_the_first_runs_answer(c, upstream, tag):
    upstream.script(tag, text("First answer."), text("Second answer."))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run1 = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert_completed(run1)
    # the run has ended: the thread takes messages and another run again
    c.beta.threads.messages.create(t.id, role="user", content="And again?")
    run2 = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                               additional_instructions="Be brief.")
    assert_completed(run2)
    assert page_ids(c.beta.threads.runs.list(t.id)) == [run2.id, run1.id]
    msgs = c.beta.threads.messages.list(t.id, order="asc").data
    assert [(m.role, text_of(m), m.run_id) for m in msgs] == [
        ("user", "Hi", None), ("assistant", "First answer.", run1.id),
        ("user", "And again?", None), ("assistant", "Second answer.", run2.id)]
    first, second = upstream.requests(tag)
    assert turns(first) == [("system", a.instructions), ("user", "Hi")]
    (role, system), *rest = turns(second)
    # additional_instructions are appended to the instructions
    assert role == "system" and system.startswith(a.instructions) and system.endswith("Be brief."), system
    assert rest == [("user", "Hi"), ("assistant", "First answer."), ("user", "And again?")]


def test_run_overrides_shape_the_upstream_request(c, upstream, tag):
    upstream.script(tag, text("{\"a\": ", "1", finish="length"))
    a = make_assistant(c, tag, tools=[WEATHER])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
    run = c.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, model="gpt-4", instructions=f"Override [{tag}].",
        additional_instructions="Answer in JSON.", additional_messages=[{"role": "user", "content": "three"}],
        temperature=0.2, max_completion_tokens=300, truncation_strategy={"type": "last_messages", "last_messages": 2},
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, response_format={"type": "json_object"})
    [rec] = upstream.requests(tag)
    body = rec.body
    assert body["model"] == "gpt-4"
    assert body["temperature"] == 0.2
    assert body["tools"] == [{"type": "function", "function": WEATHER["function"]}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"] == {"type": "json_object"}
    assert isinstance(body["max_tokens"], int) and 0 < body["max_tokens"] <= 300
    (role, system), *rest = turns(rec)
    assert role == "system" and system.startswith(f"Override [{tag}].") and system.endswith("Answer in JSON.")
    assert rest == [("user", "two"), ("user", "three")]  # the last 2 messages of the thread

    # the answer was cut by the token limit: a completed run with incomplete details, an incomplete message
    assert run.status == "completed", (run.status, run.last_error)
    assert run.model == "gpt-4" and run.temperature == 0.2 and run.max_completion_tokens == 300
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_completion_tokens"
    answer = c.beta.threads.messages.list(t.id, run_id=run.id).data[0]
    assert text_of(answer) == '{"a": 1'
    assert answer.status == "incomplete" and answer.incomplete_details.reason == "max_tokens"
    assert isinstance(answer.incomplete_at, int) and answer.completed_at is None


# --- function calling ---------------------------------------------------------------------------

def test_function_calling_round_trip(c, upstream, tag):
    upstream.script(tag,
                    tool_calls(("get_weather", '{"city": "Paris"}'), prompt_tokens=30, completion_tokens=9),
                    text("It is 22C ", "in Paris.", prompt_tokens=50))
    a = make_assistant(c, tag, tools=[WEATHER])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])

    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "requires_action", (run.status, run.last_error)
    assert run.required_action.type == "submit_tool_outputs"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.id.startswith("call_") and len(call.id) > len("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'
    assert run.completed_at is None and run.last_error is None
    assert run.usage is None  # not terminal yet
    # no text came back: no assistant message yet
    assert [m.role for m in c.beta.threads.messages.list(t.id).data] == ["user"]

    [first] = upstream.requests(tag)
    assert first.body["tools"] == [{"type": "function", "function": WEATHER["function"]}]
    assert first.body["tool_choice"] == "auto"
    assert turns(first) == [("system", a.instructions), ("user", "Weather in Paris?")]

    done = c.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": call.id, "output": "22C and sunny"}])
    assert done.id == run.id
    assert_completed(done)
    assert usage_of(done) == usage(30 + 50, 9 + 2)

    first, second = upstream.requests(tag)
    assert second.body["tools"] == first.body["tools"]
    msgs = second.messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[2].get("content") in (None, "")
    assert msgs[2]["tool_calls"] == [{"id": call.id, "type": "function",
                                      "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert msgs[3] == {"role": "tool", "tool_call_id": call.id, "content": "22C and sunny"}

    answer = c.beta.threads.messages.list(t.id).data[0]
    assert answer.role == "assistant" and answer.run_id == run.id
    assert text_of(answer) == "It is 22C in Paris."


def test_parallel_tool_calls(c, upstream, tag):
    upstream.script(tag,
                    tool_calls(("get_weather", '{"city": "Oslo"}'), ("get_time", '{"tz": "CET"}')),
                    text("Cold, and it is noon."))
    a = make_assistant(c, tag, tools=[WEATHER, TIME])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Weather and time in Oslo?"}])

    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "requires_action", (run.status, run.last_error)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(x.type, x.function.name, x.function.arguments) for x in calls] == [
        ("function", "get_weather", '{"city": "Oslo"}'), ("function", "get_time", '{"tz": "CET"}')]
    ids = [x.id for x in calls]
    assert all(i.startswith("call_") for i in ids) and ids[0] != ids[1]

    # requires_action is active: no new run, no new message on the thread
    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.runs.create(t.id, assistant_id=a.id)
    assert run.id in assert_error(ei, 400)["message"]
    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.messages.create(t.id, role="user", content="hurry up")
    assert run.id in assert_error(ei, 400)["message"]

    # all outputs in one request: one output alone, or an unknown call id, is refused
    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.runs.submit_tool_outputs(run.id, thread_id=t.id,
                                                tool_outputs=[{"tool_call_id": ids[0], "output": "-3C"}])
    assert_error(ei, 400, param="tool_outputs")
    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.runs.submit_tool_outputs(run.id, thread_id=t.id, tool_outputs=[
            {"tool_call_id": ids[0], "output": "-3C"}, {"tool_call_id": "call_notpending000000", "output": "x"}])
    assert_error(ei, 400, param_prefix="tool_outputs")
    still = c.beta.threads.runs.retrieve(run.id, thread_id=t.id)
    assert still.status == "requires_action"
    assert [x.id for x in still.required_action.submit_tool_outputs.tool_calls] == ids
    assert len(upstream.requests(tag)) == 1

    raw = c.beta.threads.runs.with_raw_response.submit_tool_outputs(run.id, thread_id=t.id, tool_outputs=[
        {"tool_call_id": ids[1], "output": "12:00"}, {"tool_call_id": ids[0], "output": "-3C"}])
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    resumed = raw.parse()
    assert resumed.status in ("queued", "in_progress", "completed")
    assert resumed.required_action is None
    done = c.beta.threads.runs.poll(run.id, t.id)
    assert_completed(done)

    first, second = upstream.requests(tag)
    msgs = second.messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool"]
    assert [(x["id"], x["function"]["name"], x["function"]["arguments"]) for x in msgs[2]["tool_calls"]] == [
        (ids[0], "get_weather", '{"city": "Oslo"}'), (ids[1], "get_time", '{"tz": "CET"}')]
    assert {m["tool_call_id"]: m["content"] for m in msgs[3:]} == {ids[0]: "-3C", ids[1]: "12:00"}

    [step_calls] = [s for s in c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data if s.type == "tool_calls"]
    assert [(x.id, x.function.output) for x in step_calls.step_details.tool_calls] == [(ids[0], "-3C"),
                                                                                       (ids[1], "12:00")]
    assert text_of(c.beta.threads.messages.list(t.id).data[0]) == "Cold, and it is noon."


def test_run_steps_show_the_tool_calls_and_the_message_creation(c, upstream, tag):
    upstream.script(tag,
                    tool_calls(("get_weather", '{"city": "Rome"}'), prompt_tokens=30, completion_tokens=7),
                    text("Warm ", "in ", "Rome.", prompt_tokens=45))
    a = make_assistant(c, tag, tools=[WEATHER])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Rome?"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "requires_action", (run.status, run.last_error)
    [call] = run.required_action.submit_tool_outputs.tool_calls

    # while the run waits, its tool_calls step is in progress with no output
    [waiting] = c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data
    assert waiting.type == "tool_calls" and waiting.status == "in_progress"
    assert waiting.completed_at is None
    assert waiting.usage is None  # "null while the run step's status is in_progress"
    assert [(x.id, x.function.name, x.function.arguments, x.function.output)
            for x in waiting.step_details.tool_calls] == [(call.id, "get_weather", '{"city": "Rome"}', None)]

    done = c.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": call.id, "output": "25C"}])
    assert_completed(done)

    asc = c.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data
    assert [s.type for s in asc] == ["tool_calls", "message_creation"]
    for s in asc:
        assert_id(s.id, "step")
        assert s.object == "thread.run.step"
        assert (s.run_id, s.thread_id, s.assistant_id) == (run.id, t.id, a.id)
        assert s.status == "completed"
        assert isinstance(s.completed_at, int)
        assert s.cancelled_at is None and s.failed_at is None and s.expired_at is None and s.last_error is None
    calls_step, message_step = asc
    assert calls_step.id == waiting.id
    assert calls_step.step_details.type == "tool_calls"
    assert [(x.id, x.type, x.function.name, x.function.arguments, x.function.output)
            for x in calls_step.step_details.tool_calls] == [(call.id, "function", "get_weather", '{"city": "Rome"}',
                                                              "25C")]
    assert usage_of(calls_step) == usage(30, 7)
    answer = c.beta.threads.messages.list(t.id).data[0]
    assert text_of(answer) == "Warm in Rome."
    assert message_step.step_details.type == "message_creation"
    assert message_step.step_details.message_creation.message_id == answer.id
    assert usage_of(message_step) == usage(45, 3)
    assert usage_of(done) == usage(30 + 45, 7 + 3)

    # newest first by default; each step retrievable by id
    assert page_ids(c.beta.threads.runs.steps.list(run.id, thread_id=t.id)) == [message_step.id, calls_step.id]
    for s in asc:
        assert c.beta.threads.runs.steps.retrieve(s.id, thread_id=t.id, run_id=run.id).model_dump() == s.model_dump()


# --- cancellation -------------------------------------------------------------------------------

def test_cancel_while_the_upstream_hangs(c, upstream, tag):
    upstream.script(tag, hang())
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Take your time"}])
    run = c.beta.threads.runs.create(t.id, assistant_id=a.id)
    [rec] = upstream.wait_for_requests(tag, 1)

    busy = c.beta.threads.runs.retrieve(run.id, thread_id=t.id)
    assert busy.status == "in_progress"
    assert isinstance(busy.started_at, int) and busy.completed_at is None

    raw = c.beta.threads.runs.with_raw_response.cancel(run.id, thread_id=t.id)
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    cancelling = raw.parse()
    assert cancelling.id == run.id
    assert cancelling.status == "cancelling"

    done = c.beta.threads.runs.poll(run.id, t.id)
    assert done.status == "cancelled"
    assert isinstance(done.cancelled_at, int)
    assert_recent(done.cancelled_at)
    assert done.completed_at is None and done.failed_at is None
    assert done.last_error is None and done.required_action is None

    # the model request was abandoned, and not retried
    assert rec.disconnected.wait(10), "assistd kept the upstream request open after the run was cancelled"
    assert len(upstream.requests(tag)) == 1
    assert [m.role for m in c.beta.threads.messages.list(t.id).data] == ["user"]

    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.runs.cancel(run.id, thread_id=t.id)
    assert_error(ei, 400)
    # the thread is free again
    m = c.beta.threads.messages.create(t.id, role="user", content="never mind")
    assert m.thread_id == t.id


def test_cancel_after_partial_text_leaves_an_incomplete_message(c, upstream, tag):
    upstream.script(tag, hang("Partial ", "answer"))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Start talking"}])
    run = c.beta.threads.runs.create(t.id, assistant_id=a.id)

    msg = wait_until(lambda: c.beta.threads.messages.list(t.id, run_id=run.id).data,
                     "the assistant message of the streaming run")[0]
    assert msg.role == "assistant" and msg.run_id == run.id and msg.assistant_id == a.id
    assert msg.status == "in_progress"
    [step] = c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data
    assert step.type == "message_creation" and step.status == "in_progress"
    assert step.step_details.message_creation.message_id == msg.id

    assert c.beta.threads.runs.cancel(run.id, thread_id=t.id).status == "cancelling"
    done = c.beta.threads.runs.poll(run.id, t.id)
    assert done.status == "cancelled"

    after = c.beta.threads.messages.retrieve(msg.id, thread_id=t.id)
    assert after.status == "incomplete"
    assert text_of(after) == "Partial answer"  # the text that did arrive is kept
    assert after.incomplete_details.reason == "run_cancelled"
    assert isinstance(after.incomplete_at, int) and after.completed_at is None
    step = c.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=run.id)
    assert step.status == "cancelled"
    assert isinstance(step.cancelled_at, int) and step.completed_at is None


# --- one active run per thread ------------------------------------------------------------------

def test_second_run_on_a_thread_with_an_active_run_is_400(c, upstream, tag):
    upstream.script(tag, hang())
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "One at a time"}])
    run = c.beta.threads.runs.create(t.id, assistant_id=a.id)
    upstream.wait_for_requests(tag, 1)

    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.runs.create(t.id, assistant_id=a.id)
    err = assert_error(ei, 400)
    assert run.id in err["message"], err
    with pytest.raises(openai.BadRequestError) as ei:
        c.beta.threads.messages.create(t.id, role="user", content="me too")
    assert run.id in assert_error(ei, 400)["message"]
    assert page_ids(c.beta.threads.runs.list(t.id)) == [run.id]
    assert [text_of(m) for m in c.beta.threads.messages.list(t.id).data] == ["One at a time"]
    assert len(upstream.requests(tag)) == 1

    c.beta.threads.runs.cancel(run.id, thread_id=t.id)
    assert c.beta.threads.runs.poll(run.id, t.id).status == "cancelled"


# --- the polling header -------------------------------------------------------------------------

def test_run_responses_carry_the_poll_after_header(c, upstream, tag):
    upstream.script(tag, text("one"), text("two"))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Count"}])

    raw = c.beta.threads.runs.with_raw_response.create(t.id, assistant_id=a.id)
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    run = raw.parse()
    assert run.status in ("queued", "in_progress", "completed")
    assert_completed(c.beta.threads.runs.poll(run.id, t.id))
    raw = c.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=t.id)
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    assert raw.parse().status == "completed"
    raw = c.beta.threads.runs.with_raw_response.update(run.id, thread_id=t.id, metadata={"k": "v"})
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    assert raw.parse().metadata == {"k": "v"}

    raw = c.beta.threads.with_raw_response.create_and_run(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "Again"}]})
    assert raw.headers.get("openai-poll-after-ms") == POLL_AFTER
    run2 = raw.parse()
    assert_completed(c.beta.threads.runs.poll(run2.id, run2.thread_id))
    assert [text_of(m) for m in c.beta.threads.messages.list(run2.thread_id).data] == ["two", "Again"]


# --- failure ------------------------------------------------------------------------------------

def test_a_stream_broken_mid_answer_is_retried_without_a_duplicate_message(c, upstream, tag):
    upstream.script(tag, drop("Half an "), text("Whole ", "answer."))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Answer me"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert_completed(run)
    msgs = c.beta.threads.messages.list(t.id).data
    assert [(m.role, text_of(m)) for m in msgs] == [("assistant", "Whole answer."), ("user", "Answer me")]
    steps = c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
    assert steps[0].step_details.message_creation.message_id == msgs[0].id
    first, second = upstream.requests(tag)
    # the retry sends the same prompt: no trace of the broken half answer
    assert turns(second) == turns(first) == [("system", a.instructions), ("user", "Answer me")]


def test_upstream_error_fails_the_run(c, upstream, tag):
    upstream.script(tag, Error(400, "upstream says: not today"))
    a = make_assistant(c, tag)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Fail please"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    # what happened, in the server's words; the upstream's own text goes to the operator's log only
    assert "HTTP 400" in run.last_error.message
    assert "not today" not in run.last_error.message
    assert isinstance(run.failed_at, int) and run.completed_at is None and run.cancelled_at is None
    assert len(upstream.requests(tag)) == 1  # a 400 is not retried
    assert [m.role for m in c.beta.threads.messages.list(t.id).data] == ["user"]
    # a failed run is not active
    assert c.beta.threads.messages.create(t.id, role="user", content="ok").thread_id == t.id


# --- terminal runs report usage; failed steps carry their error ---------------------------------

def test_a_run_cancelled_while_waiting_for_outputs_reports_its_usage(c, upstream, tag):
    upstream.script(tag, tool_calls(("get_weather", '{"city": "Nice"}'), prompt_tokens=30, completion_tokens=9))
    a = make_assistant(c, tag, tools=[WEATHER])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Nice?"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "requires_action"
    done = c.beta.threads.runs.cancel(run.id, thread_id=t.id)
    if done.status != "cancelled":
        done = c.beta.threads.runs.poll(run.id, t.id)
    assert done.status == "cancelled"
    [step] = c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data
    assert step.status == "cancelled"
    assert usage_of(done) == usage(30, 9)


def test_a_failed_step_carries_its_error(c, upstream, tag):
    upstream.script(tag, tool_calls(("not_a_tool", "{}")))
    a = make_assistant(c, tag, tools=[WEATHER])
    t = c.beta.threads.create(messages=[{"role": "user", "content": "Go"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "not_a_tool" in run.last_error.message
    failed = [s for s in c.beta.threads.runs.steps.list(run.id, thread_id=t.id).data if s.status == "failed"]
    for s in failed:
        assert s.last_error is not None, s
