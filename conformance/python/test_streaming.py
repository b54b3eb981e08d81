"""Streaming runs (`stream: true`), through openai==1.20.0's stream helpers and through raw SSE.

Runs execute on the `engine_server` (ASSISTD_WORKERS=4, fake upstream; see conftest.py). Each test scripts
the upstream under a tag of its own, which it puts into its assistant's instructions.

The SDK client here is built like conftest's `engine_client` (strict SDK validation, every JSON response
validated against the spec by conftest's hook), except that its hook leaves `text/event-stream` bodies
alone: conftest's hook calls `response.read()` first, which buffers a whole stream before the SDK sees its
first event, and a test that acts in the middle of a stream (cancel) needs the events as they arrive.
Stream events are validated here instead: the SDK parses each one strictly, and the raw-stream tests check
every event's JSON against the spec's schemas (`check_raw_stream`).

The event protocol (v1-surface.md §3; the order is assistd's contract with the SDK helpers):
  [thread.created]  thread.run.created  thread.run.queued  thread.run.in_progress
  thread.run.step.created  thread.run.step.in_progress
  thread.message.created  thread.message.in_progress  thread.message.delta...  thread.message.completed
  thread.run.step.completed
  thread.run.completed | thread.run.requires_action | thread.run.failed | thread.run.cancelled | ...
  done [DONE]
A function call streams as thread.run.step.delta events with indexed tool-call deltas; a submit_tool_outputs
stream starts with thread.run.queued and the tool_calls step's thread.run.step.completed. A run that fails
for a reason its last_error explains gets no `error` event (Node 4.36 throws on any): `error` is kept for
the server's own failures (storage, a panic, a stream that fell behind).
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Tuple

import httpx
import openai
import pytest
from openai import AssistantEventHandler

import spec_validate
from conftest import KEY_A, _validation_hook
from fake_upstream import Error, drop, hang, text, tool_calls
from helpers import MODEL, assert_id, assert_recent, page_ids, unique

pytestmark = [
    pytest.mark.timeout(90),
    # runs.create_and_stream is what the brief and many callers use; 1.20.0 marks it deprecated for runs.stream
    pytest.mark.filterwarnings("ignore:use `stream` instead:DeprecationWarning"),
]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The time in a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}

RUN_HEAD = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
TERMINAL_RUN_EVENTS = {"thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.expired"}
TERMINAL_STEP_EVENTS = {"thread.run.step.completed", "thread.run.step.failed", "thread.run.step.cancelled",
                        "thread.run.step.expired"}
TERMINAL_MESSAGE_EVENTS = {"thread.message.completed", "thread.message.incomplete"}


def text_block(n_deltas: int) -> List[str]:
    """The events of one message_creation step whose text arrives in `n_deltas` upstream chunks."""
    return (["thread.run.step.created", "thread.run.step.in_progress",
             "thread.message.created", "thread.message.in_progress"]
            + ["thread.message.delta"] * n_deltas
            + ["thread.message.completed", "thread.run.step.completed"])


# ---------------------------------------------------------------------------------------------
# clients and fixtures
# ---------------------------------------------------------------------------------------------

def _stream_aware_hook(response: httpx.Response) -> None:
    """conftest's validation hook, except that an event stream is not read here (the caller reads it)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return
    _validation_hook(response)


@pytest.fixture(scope="module")
def sc(engine_server) -> openai.OpenAI:
    """The SDK against the engine server (project A), strict, JSON responses spec-validated, streams unbuffered."""
    http_client = httpx.Client(event_hooks={"response": [_stream_aware_hook]}, timeout=30)
    c = openai.OpenAI(api_key=KEY_A, base_url=engine_server.base_url, http_client=http_client, max_retries=0,
                      timeout=30, _strict_response_validation=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def sraw(engine_server) -> httpx.Client:
    """Plain httpx at the engine server's /v1, project A, `OpenAI-Beta: assistants=v1`; streams unbuffered."""
    c = httpx.Client(base_url=engine_server.base_url,
                     headers={"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v1"},
                     event_hooks={"response": [_stream_aware_hook]}, timeout=30)
    yield c
    c.close()


@pytest.fixture
def tag(upstream):
    return upstream.new_tag()


def make_assistant(client, tag, tools=()):
    return client.beta.assistants.create(model=MODEL, name=unique("stream"),
                                         instructions=f"You are a streaming test assistant [{tag}].",
                                         tools=list(tools))


def usage(prompt, completion):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def text_of(message) -> str:
    assert len(message.content) == 1, message.content
    assert message.content[0].type == "text", message.content
    return message.content[0].text.value


def halves(arguments: str) -> List[str]:
    """The two pieces in which fake_upstream streams a call's arguments."""
    half = len(arguments) // 2
    return [arguments[:half], arguments[half:]]


# ---------------------------------------------------------------------------------------------
# an event handler that records everything
# ---------------------------------------------------------------------------------------------

class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: List[Any] = []
        self.deltas: List[str] = []            # on_text_delta: the delta's value
        self.snapshots: List[str] = []         # on_text_delta: the accumulated text
        self.texts_created: List[str] = []
        self.texts_done: List[str] = []
        self.messages_created: List[Any] = []
        self.messages_done: List[Any] = []
        self.steps_created: List[Any] = []
        self.steps_done: List[Any] = []
        self.tool_calls_created: List[Dict[str, Any]] = []
        self.tool_call_deltas: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []
        self.tool_calls_done: List[Dict[str, Any]] = []
        self.exceptions: List[BaseException] = []
        self.ended = 0

    # The SDK accumulates deltas into the very object it passed to on_message_created (and on_event):
    # keep copies, as they were when they arrived.
    def on_event(self, event) -> None:
        self.events.append(event.model_copy(deep=True))

    def on_text_created(self, text) -> None:
        self.texts_created.append(text.value)

    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value)
        self.snapshots.append(snapshot.value)

    def on_text_done(self, text) -> None:
        self.texts_done.append(text.value)

    def on_message_created(self, message) -> None:
        self.messages_created.append(message.model_copy(deep=True))

    def on_message_done(self, message) -> None:
        self.messages_done.append(message.model_copy(deep=True))

    def on_run_step_created(self, run_step) -> None:
        self.steps_created.append(run_step.model_copy(deep=True))

    def on_run_step_done(self, run_step) -> None:
        self.steps_done.append(run_step.model_copy(deep=True))

    def on_tool_call_created(self, tool_call) -> None:
        self.tool_calls_created.append(tool_call.model_dump())

    def on_tool_call_delta(self, delta, snapshot) -> None:
        self.tool_call_deltas.append((delta.model_dump(exclude_unset=True), snapshot.model_dump()))

    def on_tool_call_done(self, tool_call) -> None:
        self.tool_calls_done.append(tool_call.model_dump())

    def on_exception(self, exception) -> None:
        self.exceptions.append(exception)

    def on_end(self) -> None:
        self.ended += 1

    # --- views ---

    @property
    def names(self) -> List[str]:
        return [e.event for e in self.events]

    def of(self, name: str) -> List[Any]:
        return [e.data for e in self.events if e.event == name]


def assert_clean_end(rec: Recorder) -> None:
    assert rec.exceptions == [], rec.exceptions
    assert rec.ended == 1


def assert_run_events_consistent(rec: Recorder, run_id: str, thread_id: str) -> None:
    """Every run / step / message event of the stream belongs to this run and thread."""
    for e in rec.events:
        d = e.data
        if e.event.startswith("thread.run.step.") and e.event != "thread.run.step.delta":
            assert (d.run_id, d.thread_id) == (run_id, thread_id), (e.event, d)
        elif e.event.startswith("thread.run."):
            if e.event != "thread.run.step.delta":
                assert (d.id, d.thread_id) == (run_id, thread_id), (e.event, d)
        elif e.event.startswith("thread.message.") and e.event != "thread.message.delta":
            assert (d.run_id, d.thread_id) == (run_id, thread_id), (e.event, d)


def unclosed_objects(rec: Recorder) -> List[str]:
    """Problems: a step or message the stream announced that got no terminal event before the run's terminal
    event, or an object announced twice. (on_message_done / on_run_step_done / get_final_messages rely on
    every announced object being finished.) The tool_calls step of a requires_action run stays open."""
    problems = []
    names = rec.names
    run_end = max(i for i, n in enumerate(names) if n in TERMINAL_RUN_EVENTS | {"thread.run.requires_action"})
    opened: Dict[str, str] = {}
    closed: Dict[str, str] = {}
    for i, e in enumerate(rec.events):
        if e.event in ("thread.run.step.created", "thread.message.created"):
            if e.data.id in opened:
                problems.append(f"{e.event} for {e.data.id} twice")
            opened[e.data.id] = e.event
        elif e.event in TERMINAL_STEP_EVENTS | TERMINAL_MESSAGE_EVENTS:
            if i > run_end:
                problems.append(f"{e.event} for {e.data.id} after the run's terminal event")
            closed[e.data.id] = e.event
    if names[run_end] == "thread.run.requires_action":
        tool_steps = {s.id for s in rec.of("thread.run.step.created") if s.type == "tool_calls"}
        opened = {k: v for k, v in opened.items() if k not in tool_steps}
    for k, v in opened.items():
        if k not in closed:
            kind = "thread.message.completed/incomplete" if v == "thread.message.created" else \
                "thread.run.step.completed/failed/cancelled/expired"
            problems.append(f"{k} was announced ({v}) but never finished (no {kind})")
    return problems


def fail_on(problems: List[str], rec: Recorder) -> None:
    if problems:
        raise AssertionError("the stream disagrees with the run:\n  - " + "\n  - ".join(problems)
                             + f"\n  events: {describe(rec)}")


def stream_vs_api(client, rec: Recorder, thread_id: str, run_id: str) -> List[str]:
    """Problems: a message / step the stream announced that the API does not have, or whose last streamed
    state (its terminal event, else its created event) differs from the API's."""
    problems = []
    last: Dict[str, Any] = {}
    streamed: Dict[str, str] = {}
    for e in rec.events:
        if e.event in ("thread.message.created", "thread.run.step.created") or \
                e.event in TERMINAL_MESSAGE_EVENTS | TERMINAL_STEP_EVENTS:
            last[e.data.id] = e.data
        elif e.event == "thread.message.delta":
            streamed[e.data.id] = streamed.get(e.data.id, "") + "".join(
                c.text.value or "" for c in e.data.delta.content or [] if c.type == "text" and c.text)
    for oid, obj in last.items():
        try:
            if obj.object == "thread.message":
                got = client.beta.threads.messages.retrieve(oid, thread_id=thread_id)
            else:
                got = client.beta.threads.runs.steps.retrieve(oid, thread_id=thread_id, run_id=run_id)
        except openai.NotFoundError:
            problems.append(f"{oid} was announced by the stream, but the API answers 404 for it")
            continue
        if got.status != obj.status:
            problems.append(f"{oid}: the stream last said {obj.status!r}, the API says {got.status!r}")
        if obj.object == "thread.message":
            kept = "".join(c.text.value for c in got.content if c.type == "text")
            if kept != streamed.get(oid, ""):
                problems.append(f"{oid}: the stream delivered the text {streamed.get(oid, '')!r}, the API's "
                                f"{got.status} message holds {kept!r}")
    return problems


def describe(rec: Recorder) -> str:
    out = []
    for e in rec.events:
        d = e.data
        ident = getattr(d, "id", None)
        status = getattr(d, "status", None)
        out.append(f"{e.event}({ident}{', ' + status if isinstance(status, str) else ''})")
    return " ".join(out)


# ---------------------------------------------------------------------------------------------
# raw SSE
# ---------------------------------------------------------------------------------------------

RUN_STATUS = {"created": "queued", "queued": "queued", "in_progress": "in_progress",
              "requires_action": "requires_action", "completed": "completed", "failed": "failed",
              "cancelling": "cancelling", "cancelled": "cancelled", "expired": "expired"}
STEP_STATUS = {"created": "in_progress", "in_progress": "in_progress", "completed": "completed",
               "failed": "failed", "cancelled": "cancelled", "expired": "expired"}
MESSAGE_STATUS = {"created": "in_progress", "in_progress": "in_progress", "completed": "completed",
                  "incomplete": "incomplete"}


def parse_sse(body: str) -> List[Tuple[str, str]]:
    """Split an event-stream body into (event, data). Every event must carry one `event:` and one `data:`
    line; the body must end with the blank line after the last event."""
    assert body.endswith("\n\n"), f"the stream does not end with a blank line: {body[-200:]!r}"
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block:
            continue
        fields: Dict[str, List[str]] = {}
        for line in block.split("\n"):
            assert not line.startswith(":"), f"unexpected comment line {line!r}"
            name, sep, value = line.partition(":")
            assert sep, f"malformed SSE line {line!r} in block {block!r}"
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        assert set(fields) == {"event", "data"} and len(fields["event"]) == 1 and len(fields["data"]) == 1, \
            f"an SSE block must be exactly one `event:` and one `data:` line: {block!r}"
        events.append((fields["event"][0], fields["data"][0]))
    return events


def schema_for(event: str) -> str:
    if event == "thread.created":
        return "ThreadObject"
    if event == "thread.run.step.delta":
        return "RunStepDeltaObject"
    if event.startswith("thread.run.step."):
        return "RunStepObject"
    if event == "thread.message.delta":
        return "MessageDeltaObject"
    if event.startswith("thread.message."):
        return "MessageObject"
    if event.startswith("thread.run."):
        return "RunObject"
    if event == "error":
        return "Error"
    raise AssertionError(f"unknown stream event {event!r}")


def check_raw_stream(response: httpx.Response) -> List[Tuple[str, Any]]:
    """Read and check a raw streaming response; return [(event, parsed data)] without the final done."""
    assert response.status_code == 200, response.read()
    ctype = response.headers.get("content-type", "")
    assert ctype.split(";")[0].strip() == "text/event-stream", ctype
    body = response.read().decode("utf-8")
    events = parse_sse(body)
    assert events, "empty stream"
    assert events[-1] == ("done", "[DONE]"), f"the stream does not end with event: done / data: [DONE]: {events[-1]}"
    out = []
    for i, (event, data) in enumerate(events[:-1]):
        where = f"event #{i} {event!r}"
        assert event != "done" and not data.startswith("[DONE]"), f"{where}: [DONE] before the end of the stream"
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise AssertionError(f"{where}: data is not JSON ({e}): {data[:300]!r}")
        assert isinstance(obj, dict), f"{where}: data is not a JSON object: {data[:300]!r}"
        spec_validate.validate_against(schema_for(event), obj, context=where)
        spec_validate.validate_against("AssistantStreamEvent", {"event": event, "data": obj}, context=where)
        if event == "thread.created":
            assert obj["object"] == "thread"
        elif event == "thread.run.step.delta":
            assert obj["object"] == "thread.run.step.delta"
        elif event.startswith("thread.run.step."):
            assert obj["object"] == "thread.run.step"
            assert obj["status"] == STEP_STATUS[event.rsplit(".", 1)[1]], f"{where}: status {obj['status']!r}"
        elif event == "thread.message.delta":
            assert obj["object"] == "thread.message.delta"
        elif event.startswith("thread.message."):
            assert obj["object"] == "thread.message"
            assert obj["status"] == MESSAGE_STATUS[event.rsplit(".", 1)[1]], f"{where}: status {obj['status']!r}"
        elif event.startswith("thread.run."):
            assert obj["object"] == "thread.run"
            assert obj["status"] == RUN_STATUS[event.rsplit(".", 1)[1]], f"{where}: status {obj['status']!r}"
        else:
            assert event == "error"
            assert set(obj) == {"message", "type", "param", "code"}, f"{where}: {obj}"
        out.append((event, obj))
    return out


def post_stream(sraw: httpx.Client, path: str, body: Dict[str, Any]) -> List[Tuple[str, Any]]:
    with sraw.stream("POST", path, json=body) as r:
        return check_raw_stream(r)


def raw_names(events) -> List[str]:
    return [e for e, _ in events]


# ---------------------------------------------------------------------------------------------
# runs.create_and_stream / runs.stream
# ---------------------------------------------------------------------------------------------

def test_create_and_stream_text_run(sc, upstream, tag):
    chunks = ("Hel", "lo, ", "stream", "ing world!")
    upstream.script(tag, text(*chunks, prompt_tokens=17))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Stream to me"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        assert stream is rec
        stream.until_done()
        final = stream.get_final_run()
        steps = stream.get_final_run_steps()
        messages = stream.get_final_messages()
    assert_clean_end(rec)

    # the protocol, event by event
    assert rec.names == RUN_HEAD + text_block(len(chunks)) + ["thread.run.completed"], rec.names
    run_id = rec.events[0].data.id
    assert_id(run_id, "run")
    assert_run_events_consistent(rec, run_id, t.id)
    created, queued, in_progress = (e.data for e in rec.events[:3])
    assert created.status == "queued" and queued.status == "queued" and in_progress.status == "in_progress"
    assert created.started_at is None and isinstance(in_progress.started_at, int)
    assert created.assistant_id == a.id and created.model == MODEL and created.instructions == a.instructions

    # the text, delta by delta
    whole = "".join(chunks)
    assert rec.deltas == list(chunks)
    assert rec.snapshots == ["".join(chunks[:i + 1]) for i in range(len(chunks))]
    assert rec.texts_created == [chunks[0]]
    assert rec.texts_done == [whole]
    [created_msg] = rec.messages_created
    [done_msg] = rec.messages_done
    assert_id(done_msg.id, "msg")
    assert created_msg.id == done_msg.id
    assert created_msg.status == "in_progress" and created_msg.content == [] and created_msg.completed_at is None
    assert done_msg.status == "completed" and isinstance(done_msg.completed_at, int)
    assert (done_msg.role, done_msg.assistant_id, done_msg.run_id, done_msg.thread_id) == ("assistant", a.id,
                                                                                           run_id, t.id)
    assert text_of(done_msg) == whole
    assert done_msg.content[0].text.annotations == []
    for d in rec.of("thread.message.delta"):
        assert d.id == done_msg.id and d.object == "thread.message.delta"
    assert [m.id for m in messages] == [done_msg.id] and text_of(messages[0]) == whole

    # the step
    [step] = rec.steps_created
    assert_id(step.id, "step")
    assert step.type == "message_creation" and step.status == "in_progress"
    assert step.step_details.message_creation.message_id == done_msg.id
    [step_done] = rec.steps_done
    assert step_done.id == step.id and step_done.status == "completed" and isinstance(step_done.completed_at, int)
    assert step_done.usage.model_dump() == usage(17, len(chunks))
    assert [s.id for s in steps] == [step.id]

    # the final run
    assert final.id == run_id and final.status == "completed"
    assert final.required_action is None and final.last_error is None
    assert isinstance(final.completed_at, int) and final.created_at <= final.started_at <= final.completed_at
    assert_recent(final.completed_at)
    assert final.usage.model_dump() == usage(17, len(chunks))

    # the stream agrees with the REST API
    listed = sc.beta.threads.messages.list(t.id).data
    assert [(m.role, text_of(m)) for m in listed] == [("assistant", whole), ("user", "Stream to me")]
    assert listed[0].model_dump() == done_msg.model_dump()
    assert sc.beta.threads.runs.retrieve(run_id, thread_id=t.id).model_dump() == final.model_dump()
    assert sc.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=run_id).model_dump() \
        == step_done.model_dump()
    assert page_ids(sc.beta.threads.runs.list(t.id)) == [run_id]

    [req] = upstream.requests(tag)
    assert req.body["stream"] is True
    assert [(m["role"], m["content"]) for m in req.messages] == [("system", a.instructions),
                                                                ("user", "Stream to me")]


def test_runs_stream_with_the_default_handler(sc, upstream, tag):
    upstream.script(tag, text("Just ", "the ", "deltas."))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Go"}])
    with sc.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, metadata={"via": "stream"}) as stream:
        assert type(stream) is AssistantEventHandler
        got = list(stream.text_deltas)
        final = stream.get_final_run()
        snapshot = stream.current_message_snapshot
    assert got == ["Just ", "the ", "deltas."]
    assert final.status == "completed" and final.metadata == {"via": "stream"}
    assert snapshot is not None and text_of(snapshot) == "Just the deltas." and snapshot.status == "completed"
    [m] = sc.beta.threads.messages.list(t.id, run_id=final.id).data
    assert m.id == snapshot.id and text_of(m) == "Just the deltas."


def test_create_and_stream_with_run_overrides(sc, upstream, tag):
    upstream.script(tag, text("Overridden."))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "First"}])
    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(
            thread_id=t.id, assistant_id=a.id, event_handler=rec, additional_instructions="Be terse.",
            additional_messages=[{"role": "user", "content": "Second"}], metadata={"k": "v"}) as stream:
        final = stream.get_final_run()
    assert_clean_end(rec)
    assert rec.names == RUN_HEAD + text_block(1) + ["thread.run.completed"], rec.names
    assert final.status == "completed" and final.metadata == {"k": "v"}
    assert rec.events[0].data.metadata == {"k": "v"}
    [req] = upstream.requests(tag)
    (role, system), *rest = [(m["role"], m["content"]) for m in req.messages]
    assert role == "system" and system.startswith(a.instructions) and system.endswith("Be terse."), system
    assert rest == [("user", "First"), ("user", "Second")]
    assert [text_of(m) for m in sc.beta.threads.messages.list(t.id, order="asc").data] == [
        "First", "Second", "Overridden."]


# ---------------------------------------------------------------------------------------------
# threads.create_and_run_stream
# ---------------------------------------------------------------------------------------------

def test_create_and_run_stream_starts_with_thread_created(sc, upstream, tag):
    upstream.script(tag, text("A new ", "thread."))
    a = make_assistant(sc, tag)
    rec = Recorder()
    with sc.beta.threads.create_and_run_stream(
            assistant_id=a.id, event_handler=rec, metadata={"r": "1"},
            thread={"messages": [{"role": "user", "content": "Start a thread"}], "metadata": {"t": "1"}}) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert_clean_end(rec)

    assert rec.names == ["thread.created"] + RUN_HEAD + text_block(2) + ["thread.run.completed"], rec.names
    thread = rec.events[0].data
    assert_id(thread.id, "thread")
    assert thread.object == "thread" and thread.metadata == {"t": "1"}
    assert_recent(thread.created_at)
    assert_run_events_consistent(rec, final.id, thread.id)
    assert final.thread_id == thread.id and final.status == "completed" and final.metadata == {"r": "1"}
    assert rec.deltas == ["A new ", "thread."]
    [done] = rec.messages_done
    assert text_of(done) == "A new thread."

    assert sc.beta.threads.retrieve(thread.id).model_dump() == thread.model_dump()
    msgs = sc.beta.threads.messages.list(thread.id, order="asc").data
    assert [(m.role, text_of(m), m.run_id) for m in msgs] == [("user", "Start a thread", None),
                                                              ("assistant", "A new thread.", final.id)]
    assert page_ids(sc.beta.threads.runs.list(thread.id)) == [final.id]


# ---------------------------------------------------------------------------------------------
# function calling
# ---------------------------------------------------------------------------------------------

def test_function_call_stream_then_submit_tool_outputs_stream(sc, upstream, tag):
    args = '{"city": "Paris"}'
    upstream.script(tag,
                    tool_calls(("get_weather", args), prompt_tokens=30, completion_tokens=9),
                    text("It is 22C ", "in Paris.", prompt_tokens=50))
    a = make_assistant(sc, tag, tools=[WEATHER])
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        stream.until_done()
        waiting = stream.get_final_run()
        [step_snapshot] = stream.get_final_run_steps()
    assert_clean_end(rec)

    pieces = halves(args)
    assert rec.names == RUN_HEAD + ["thread.run.step.created", "thread.run.step.in_progress"] \
        + ["thread.run.step.delta"] * (1 + len(pieces)) + ["thread.run.requires_action"], rec.names
    assert_run_events_consistent(rec, waiting.id, t.id)
    assert rec.messages_created == [] and rec.deltas == []

    [step] = rec.steps_created
    assert step.type == "tool_calls" and step.status == "in_progress"
    assert step.step_details.type == "tool_calls" and step.step_details.tool_calls == []
    for d in rec.of("thread.run.step.delta"):
        assert d.id == step.id and d.object == "thread.run.step.delta"

    # the call as the handler saw it: created with id and name, then the argument pieces
    [created] = rec.tool_calls_created
    call_id = created["id"]
    assert call_id.startswith("call_") and len(call_id) > len("call_")
    assert created["type"] == "function" and created["function"]["name"] == "get_weather"
    assert created["function"]["arguments"] == ""
    assert created["function"]["output"] is None
    assert [d for d, _ in rec.tool_call_deltas] == [
        {"index": 0, "type": "function", "function": {"arguments": p}} for p in pieces]
    assert [s["function"]["arguments"] for _, s in rec.tool_call_deltas] == [pieces[0], args]
    assert all(s["id"] == call_id and s["function"]["name"] == "get_weather" for _, s in rec.tool_call_deltas)
    [done_call] = rec.tool_calls_done
    assert (done_call["id"], done_call["function"]["name"], done_call["function"]["arguments"]) == (
        call_id, "get_weather", args)
    assert [(x.id, x.function.name, x.function.arguments, x.function.output)
            for x in step_snapshot.step_details.tool_calls] == [(call_id, "get_weather", args, None)]

    # the run waits for exactly that call
    assert waiting.status == "requires_action"
    assert waiting.required_action.type == "submit_tool_outputs"
    [required] = waiting.required_action.submit_tool_outputs.tool_calls
    assert (required.id, required.type, required.function.name, required.function.arguments) == (
        call_id, "function", "get_weather", args)
    assert waiting.usage is None and waiting.completed_at is None
    assert sc.beta.threads.runs.retrieve(waiting.id, thread_id=t.id).model_dump() == waiting.model_dump()
    stored = sc.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=waiting.id)
    assert stored.status == "in_progress"
    assert [(x.id, x.function.arguments, x.function.output) for x in stored.step_details.tool_calls] == [
        (call_id, args, None)]

    # submit the output, streaming the rest of the run
    rec2 = Recorder()
    with sc.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=t.id, run_id=waiting.id, event_handler=rec2,
            tool_outputs=[{"tool_call_id": call_id, "output": "22C and sunny"}]) as stream:
        stream.until_done()
        done = stream.get_final_run()
    assert_clean_end(rec2)

    # (a thread.run.step.completed for the tool_calls step is checked in its own test below)
    names = [n for n, e in zip(rec2.names, rec2.events) if getattr(e.data, "id", None) != step.id]
    assert names == ["thread.run.queued", "thread.run.in_progress"] + text_block(2) + ["thread.run.completed"], \
        rec2.names
    assert_run_events_consistent(rec2, waiting.id, t.id)
    assert rec2.events[0].data.required_action is None
    assert rec2.deltas == ["It is 22C ", "in Paris."]
    [answer] = rec2.messages_done
    assert text_of(answer) == "It is 22C in Paris." and answer.run_id == waiting.id
    assert done.id == waiting.id and done.status == "completed" and done.required_action is None
    assert done.usage.model_dump() == usage(30 + 50, 9 + 2)

    listed = sc.beta.threads.messages.list(t.id).data
    assert [(m.role, text_of(m)) for m in listed] == [("assistant", "It is 22C in Paris."),
                                                      ("user", "Weather in Paris?")]
    assert listed[0].model_dump() == answer.model_dump()
    calls_step = sc.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=waiting.id)
    assert calls_step.status == "completed"
    assert [(x.id, x.function.output) for x in calls_step.step_details.tool_calls] == [(call_id, "22C and sunny")]

    first, second = upstream.requests(tag)
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[2]["tool_calls"] == [{"id": call_id, "type": "function",
                                                 "function": {"name": "get_weather", "arguments": args}}]
    assert second.messages[3] == {"role": "tool", "tool_call_id": call_id, "content": "22C and sunny"}


def test_parallel_function_calls_stream(sc, upstream, tag):
    calls = [("get_weather", '{"city": "Oslo"}'), ("get_time", '{"tz": "CET"}')]
    upstream.script(tag, tool_calls(*calls), text("Cold, ", "and noon."))
    a = make_assistant(sc, tag, tools=[WEATHER, TIME])
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        waiting = stream.get_final_run()
    assert_clean_end(rec)
    assert rec.names == RUN_HEAD + ["thread.run.step.created", "thread.run.step.in_progress"] \
        + ["thread.run.step.delta"] * 6 + ["thread.run.requires_action"], rec.names

    assert [(c["function"]["name"], c["function"]["arguments"]) for c in rec.tool_calls_created] == [
        ("get_weather", ""), ("get_time", "")]
    ids = [c["id"] for c in rec.tool_calls_created]
    assert all(i.startswith("call_") for i in ids) and ids[0] != ids[1]
    assert [d["index"] for d, _ in rec.tool_call_deltas] == [0, 0, 1, 1]
    assert [d["function"]["arguments"] for d, _ in rec.tool_call_deltas] == halves(calls[0][1]) + halves(calls[1][1])
    # on_tool_call_done: the first call when the second starts, the second at requires_action
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in rec.tool_calls_done] == [
        (ids[0], *calls[0]), (ids[1], *calls[1])]
    assert [(x.id, x.function.name, x.function.arguments)
            for x in waiting.required_action.submit_tool_outputs.tool_calls] == [(ids[0], *calls[0]),
                                                                                 (ids[1], *calls[1])]

    rec2 = Recorder()
    with sc.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=t.id, run_id=waiting.id, event_handler=rec2,
            tool_outputs=[{"tool_call_id": ids[1], "output": "12:00"}, {"tool_call_id": ids[0], "output": "-3C"}]
    ) as stream:
        done = stream.get_final_run()
    assert_clean_end(rec2)
    assert done.status == "completed"
    assert "".join(rec2.deltas) == "Cold, and noon."
    assert text_of(sc.beta.threads.messages.list(t.id).data[0]) == "Cold, and noon."


def test_submit_tool_outputs_stream_reports_the_tool_calls_step_completed(sc, upstream, tag):
    """The tool_calls step completes (with its outputs) while the submit stream is open: the stream says so
    (`thread.run.step.completed`, "Occurs when a run step is completed")."""
    upstream.script(tag, tool_calls(("get_weather", '{"city": "Rome"}')), text("Warm."))
    a = make_assistant(sc, tag, tools=[WEATHER])
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Rome?"}])
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id) as stream:
        waiting = stream.get_final_run()
        [calls_step] = stream.get_final_run_steps()
    [call] = waiting.required_action.submit_tool_outputs.tool_calls

    rec = Recorder()
    with sc.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=t.id, run_id=waiting.id, event_handler=rec,
            tool_outputs=[{"tool_call_id": call.id, "output": "25C"}]) as stream:
        stream.until_done()
    assert_clean_end(rec)
    stored = sc.beta.threads.runs.steps.retrieve(calls_step.id, thread_id=t.id, run_id=waiting.id)
    assert stored.status == "completed"
    completed = [s for s in rec.of("thread.run.step.completed") if s.id == calls_step.id]
    assert completed, (f"the submit_tool_outputs stream never reports the tool_calls step {calls_step.id} "
                       f"completed, though it completed meanwhile: {describe(rec)}")
    assert completed[0].model_dump() == stored.model_dump()
    # ... and before the step that answers
    names = rec.names
    assert names.index("thread.run.step.completed") < names.index("thread.run.step.created"), names


def test_two_tool_rounds_each_submit_stream_completes_its_own_step(sc, upstream, tag):
    """Round one's outputs lead to a second call: each submit stream reports the step it completes (the
    newest tool_calls step, though both were created within the same second), with that step's output."""
    upstream.script(tag, tool_calls(("get_weather", '{"city": "Bern"}')), tool_calls(("get_time", '{"tz": "CET"}')),
                    text("Cool, ", "at noon."))
    a = make_assistant(sc, tag, tools=[WEATHER, TIME])
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Bern?"}])
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id) as stream:
        run = stream.get_final_run()
        [step1] = stream.get_final_run_steps()
    [call1] = run.required_action.submit_tool_outputs.tool_calls
    assert call1.function.name == "get_weather"

    rec = Recorder()
    with sc.beta.threads.runs.submit_tool_outputs_stream(thread_id=t.id, run_id=run.id, event_handler=rec,
                                                         tool_outputs=[{"tool_call_id": call1.id, "output": "9C"}]
                                                         ) as stream:
        run = stream.get_final_run()
    assert_clean_end(rec)
    assert run.status == "requires_action", rec.names
    [call2] = run.required_action.submit_tool_outputs.tool_calls
    assert call2.function.name == "get_time" and call2.id != call1.id
    [step2] = [s for s in rec.steps_created if s.type == "tool_calls"]
    assert step2.id != step1.id
    assert [(s.id, s.status, [(x.id, x.function.output) for x in s.step_details.tool_calls]) for s in rec.steps_done] \
        == [(step1.id, "completed", [(call1.id, "9C")])], describe(rec)
    assert [c["function"]["name"] for c in rec.tool_calls_created] == ["get_time"]

    rec2 = Recorder()
    with sc.beta.threads.runs.submit_tool_outputs_stream(thread_id=t.id, run_id=run.id, event_handler=rec2,
                                                         tool_outputs=[{"tool_call_id": call2.id, "output": "12:00"}]
                                                         ) as stream:
        done = stream.get_final_run()
    assert_clean_end(rec2)
    assert done.status == "completed"
    tool_steps_done = [s for s in rec2.steps_done if s.type == "tool_calls"]
    assert [(s.id, [(x.id, x.function.output) for x in s.step_details.tool_calls]) for s in tool_steps_done] == [
        (step2.id, [(call2.id, "12:00")])], describe(rec2)
    assert "".join(rec2.deltas) == "Cool, at noon."
    asc = sc.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data
    assert [(s.id, s.type, s.status) for s in asc][:2] == [(step1.id, "tool_calls", "completed"),
                                                           (step2.id, "tool_calls", "completed")]


# ---------------------------------------------------------------------------------------------
# errors, failures, cancellation
# ---------------------------------------------------------------------------------------------

def test_a_failing_upstream_ends_the_stream_with_the_failed_run(sc, upstream, tag):
    """A run that fails for a reason its last_error explains ends with `thread.run.failed` and no `error`
    event (assistd's design since db6888c: Node 4.36 throws on any `event: error`, and Python 1.20 would raise
    APIError for an error event whose data has an `error` key; `error` is kept for the server's own
    failures). The SDK helper consumes the stream without raising and hands over the failed run."""
    upstream.script(tag, Error(400, "upstream says: not today"))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Fail please"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        seen = list(stream)
        final = stream.get_final_run()
    assert_clean_end(rec)
    assert [e.event for e in seen] == rec.names
    assert rec.names == RUN_HEAD + ["thread.run.failed"], rec.names
    assert rec.of("thread.run.failed")[0].model_dump() == final.model_dump()

    assert final.status == "failed"
    assert final.last_error.code == "server_error"
    # what happened, in the server's words; the upstream's own text goes to the operator's log only
    assert "HTTP 400" in final.last_error.message
    assert "not today" not in final.last_error.message
    assert isinstance(final.failed_at, int) and final.completed_at is None and final.cancelled_at is None
    assert sc.beta.threads.runs.retrieve(final.id, thread_id=t.id).model_dump() == final.model_dump()
    assert [m.role for m in sc.beta.threads.messages.list(t.id).data] == ["user"]
    assert len(upstream.requests(tag)) == 1


def test_upstream_failure_mid_answer(sc, upstream, tag):
    """The upstream stream breaks after some text, on every attempt (3): the run fails, the stream ends with
    `thread.run.failed`, and every step and message it announced gets its terminal event."""
    upstream.script(tag, *[drop("Half ", "an ") for _ in range(3)])
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Answer me"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        final = stream.get_final_run()
    assert_clean_end(rec)
    names = rec.names
    assert names[:3] == RUN_HEAD, names
    assert names[-1] == "thread.run.failed" and "error" not in names, names
    assert "thread.message.delta" in names
    assert final.status == "failed" and final.last_error.code == "server_error"
    assert sc.beta.threads.runs.retrieve(final.id, thread_id=t.id).status == "failed"

    problems = unclosed_objects(rec)
    # every object the stream announced exists, in the state the stream last gave it
    problems += stream_vs_api(sc, rec, t.id, final.id)
    fail_on(problems, rec)


def test_a_broken_stream_after_shown_text_ends_the_run_in_the_open(sc, upstream, tag):
    """The upstream stream breaks after text reached the client. assistd does not redo a turn a stream
    client has already seen (that would leave the shown message dangling or replace it behind the
    client's back): the message ends `incomplete` with the text that was shown, its step `failed`, the
    run `failed`, and every object the stream announced is closed in the stream."""
    upstream.script(tag, drop("Half an "), text("Whole ", "answer."))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Answer me"}])

    rec = Recorder()
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        final = stream.get_final_run()
        messages = stream.get_final_messages()
    assert_clean_end(rec)
    assert final.status == "failed"
    assert final.last_error is not None and final.last_error.code == "server_error"
    stored = sc.beta.threads.messages.list(t.id, run_id=final.id).data
    assert [text_of(m) for m in stored] == ["Half an "]
    assert stored[0].status == "incomplete"
    assert stored[0].incomplete_details.reason == "run_failed"

    problems = unclosed_objects(rec)
    problems += stream_vs_api(sc, rec, t.id, final.id)
    if [m.id for m in messages] != [m.id for m in stored]:
        problems.append(f"get_final_messages() gives {[m.id for m in messages]}, the run's messages are "
                        f"{[m.id for m in stored]}")
    fail_on(problems, rec)


def _cancel_mid_stream(sc, upstream, tag):
    upstream.script(tag, hang("Par", "tial"))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Take your time"}])
    rec = Recorder()
    cancelled_at_event = None
    with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id=a.id, event_handler=rec) as stream:
        for event in stream:
            snap = stream.current_message_snapshot
            if (cancelled_at_event is None and event.event == "thread.message.delta"
                    and snap is not None and text_of(snap) == "Partial"):
                cancelled_at_event = len(rec.events)
                r = sc.beta.threads.runs.cancel(stream.current_run.id, thread_id=t.id)
                assert r.status == "cancelling"
        final = stream.get_final_run()
    assert cancelled_at_event is not None, f"the stream never delivered the partial text: {rec.names}"
    assert_clean_end(rec)
    return rec, final, t, cancelled_at_event


def test_cancel_in_the_middle_of_a_stream(sc, upstream, tag):
    rec, final, t, at = _cancel_mid_stream(sc, upstream, tag)
    names = rec.names
    assert names[:at] == RUN_HEAD + text_block(2)[:6], names
    assert names[-1] == "thread.run.cancelled", names
    assert "thread.run.completed" not in names and "thread.message.completed" not in names
    assert final.status == "cancelled" and isinstance(final.cancelled_at, int)
    assert final.completed_at is None and final.failed_at is None and final.last_error is None
    assert sc.beta.threads.runs.retrieve(final.id, thread_id=t.id).model_dump() == final.model_dump()
    [rec_up] = upstream.requests(tag)
    assert rec_up.disconnected.wait(10), "assistd kept the upstream request open after the run was cancelled"


def test_cancel_mid_stream_finishes_the_message_and_step_in_the_stream(sc, upstream, tag):
    """After a cancel the partial message is `incomplete` (run_cancelled) and its step `cancelled` in the API;
    the stream reports both (`thread.message.incomplete`, `thread.run.step.cancelled`) before
    `thread.run.cancelled`, with the text it streamed."""
    rec, final, t, _ = _cancel_mid_stream(sc, upstream, tag)
    [msg] = rec.messages_created
    stored = sc.beta.threads.messages.retrieve(msg.id, thread_id=t.id)
    assert stored.status == "incomplete" and stored.incomplete_details.reason == "run_cancelled"
    [step] = rec.steps_created
    assert sc.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=final.id).status == "cancelled"

    problems = unclosed_objects(rec)
    problems += stream_vs_api(sc, rec, t.id, final.id)
    assert "".join(rec.deltas) == "Partial"
    fail_on(problems, rec)


# ---------------------------------------------------------------------------------------------
# the raw stream
# ---------------------------------------------------------------------------------------------

def test_raw_stream_of_a_text_run(sc, sraw, upstream, tag):
    chunks = ("Raw ", "stream ", "text.")
    upstream.script(tag, text(*chunks))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Raw"}])

    with sraw.stream("POST", f"/threads/{t.id}/runs", json={"assistant_id": a.id, "stream": True}) as r:
        events = check_raw_stream(r)
    assert raw_names(events) == RUN_HEAD + text_block(len(chunks)) + ["thread.run.completed"]
    data = dict(events)  # the last event of each name
    run = data["thread.run.completed"]
    assert run["thread_id"] == t.id and run["status"] == "completed"
    msg = data["thread.message.completed"]
    deltas = [d for e, d in events if e == "thread.message.delta"]
    assert [d["delta"]["content"] for d in deltas] == [
        [{"index": 0, "type": "text", "text": {"value": c, "annotations": []}}] for c in chunks]
    assert all(d["id"] == msg["id"] for d in deltas)
    assert msg["content"] == [{"type": "text", "text": {"value": "".join(chunks), "annotations": []}}]
    assert data["thread.message.created"]["content"] == []
    assert data["thread.run.step.completed"]["step_details"] == {
        "type": "message_creation", "message_creation": {"message_id": msg["id"]}}
    # the same objects through the REST API
    assert sraw.get(f"/threads/{t.id}/runs/{run['id']}").json() == run
    assert sraw.get(f"/threads/{t.id}/messages/{msg['id']}").json() == msg
    step = data["thread.run.step.completed"]
    assert sraw.get(f"/threads/{t.id}/runs/{run['id']}/steps/{step['id']}").json() == step


def test_raw_stream_of_thread_and_run_with_a_function_call_and_submit(sc, sraw, upstream, tag):
    args = '{"city": "Lima"}'
    upstream.script(tag, tool_calls(("get_weather", args)), text("Mild ", "in Lima."))
    a = make_assistant(sc, tag, tools=[WEATHER])
    events = post_stream(sraw, "/threads/runs", {
        "assistant_id": a.id, "stream": True, "thread": {"messages": [{"role": "user", "content": "Lima?"}]}})
    assert raw_names(events) == ["thread.created"] + RUN_HEAD + [
        "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta", "thread.run.step.delta",
        "thread.run.step.delta", "thread.run.requires_action"]
    thread = events[0][1]
    run = events[-1][1]
    assert run["thread_id"] == thread["id"]
    step = events[4][1]
    assert step["type"] == "tool_calls" and step["step_details"] == {"type": "tool_calls", "tool_calls": []}
    first, *rest = [d for e, d in events if e == "thread.run.step.delta"]
    assert all(d["id"] == step["id"] for d in [first, *rest])
    [call] = first["delta"]["step_details"]["tool_calls"]
    assert first["delta"]["step_details"]["type"] == "tool_calls"
    assert call == {"index": 0, "id": call["id"], "type": "function",
                    "function": {"name": "get_weather", "arguments": "", "output": None}}
    assert call["id"].startswith("call_")
    pieces = []
    for d in rest:
        [piece] = d["delta"]["step_details"]["tool_calls"]
        assert piece["index"] == 0 and piece["type"] == "function"
        assert "id" not in piece and "name" not in piece["function"], piece
        pieces.append(piece["function"]["arguments"])
    assert pieces == halves(args)
    assert run["required_action"] == {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": call["id"], "type": "function", "function": {"name": "get_weather", "arguments": args}}]}}

    events = post_stream(sraw, f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs", {
        "stream": True, "tool_outputs": [{"tool_call_id": call["id"], "output": "18C"}]})
    names = [e for e, d in events if d.get("id") != step["id"]]
    assert names == ["thread.run.queued", "thread.run.in_progress"] + text_block(2) + ["thread.run.completed"]
    done = events[-1][1]
    assert done["id"] == run["id"] and done["status"] == "completed" and done["required_action"] is None
    msg = dict(events)["thread.message.completed"]
    assert msg["content"][0]["text"]["value"] == "Mild in Lima."


def test_raw_stream_of_a_failed_run(sc, sraw, upstream, tag):
    upstream.script(tag, Error(400, "no such luck"))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Fail"}])
    events = post_stream(sraw, f"/threads/{t.id}/runs", {"assistant_id": a.id, "stream": True})
    assert raw_names(events) == RUN_HEAD + ["thread.run.failed"]  # no `error` event: see above
    run = events[3][1]
    # The tenant learns what happened, never the upstream's own text (it may echo secrets): that
    # goes to the operator's log.
    err = run["last_error"]
    assert err["code"] == "server_error" and "HTTP 400" in err["message"], err
    assert "no such luck" not in err["message"] and "127.0.0.1" not in err["message"], err
    assert isinstance(run["failed_at"], int)


def test_raw_stream_of_a_cancelled_run(sc, sraw, upstream, tag):
    upstream.script(tag, hang("Wait"))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Cancel me"}])
    with sraw.stream("POST", f"/threads/{t.id}/runs", json={"assistant_id": a.id, "stream": True}) as r:
        lines = r.iter_lines()
        run_id = None
        for line in lines:
            if line.startswith("data: {") and run_id is None:
                run_id = json.loads(line[6:])["id"]
            if line.startswith("data: ") and '"thread.message.delta"' in line:
                break
        assert run_id
        assert sraw.post(f"/threads/{t.id}/runs/{run_id}/cancel").json()["status"] == "cancelling"
        rest = "\n".join(lines).strip("\n") + "\n\n"
    events = parse_sse(rest)
    assert events[-1] == ("done", "[DONE]")
    for i, (event, data) in enumerate(events[:-1]):
        obj = json.loads(data)
        spec_validate.validate_against(schema_for(event), obj, context=f"after cancel: {event}")
    names = [e for e, _ in events[:-1]]
    assert names[-1] == "thread.run.cancelled", names
    assert json.loads(events[-2][1])["status"] == "cancelled"


def test_raw_stream_sends_events_as_they_happen(sc, sraw, upstream, tag):
    upstream.script(tag, text("slow ", "slow ", "text", delay=0.4))
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create(messages=[{"role": "user", "content": "Slowly"}])
    arrivals: List[Tuple[str, float]] = []
    start = time.monotonic()
    with sraw.stream("POST", f"/threads/{t.id}/runs", json={"assistant_id": a.id, "stream": True}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line[7:], time.monotonic() - start))
    names = [n for n, _ in arrivals]
    assert names == RUN_HEAD + text_block(3) + ["thread.run.completed", "done"]
    at = dict(arrivals)  # the last arrival of each name
    created = next(s for n, s in arrivals if n == "thread.run.created")
    first_delta = next(s for n, s in arrivals if n == "thread.message.delta")
    # the upstream sends its first chunk after 0.4 s, and one more every 0.4 s
    assert first_delta - created >= 0.25, \
        f"thread.run.created arrived together with the first delta ({arrivals}): the stream is not flushed"
    assert at["thread.run.completed"] - first_delta >= 0.6, \
        f"the deltas arrived together ({arrivals}): the stream is buffered"


# --- requests that never become a stream ----------------------------------------------------------

def test_stream_requests_that_fail_validation_answer_json_errors(sc, sraw, upstream, tag):
    a = make_assistant(sc, tag)
    t = sc.beta.threads.create()
    cases = [
        (f"/threads/{t.id}/runs", {"assistant_id": "asst_doesnotexist", "stream": True}, 404, None),
        ("/threads/thread_doesnotexist/runs", {"assistant_id": a.id, "stream": True}, 404, None),
        (f"/threads/{t.id}/runs", {"assistant_id": a.id, "stream": "yes"}, 400, "stream"),
        ("/threads/runs", {"assistant_id": a.id, "stream": 1}, 400, "stream"),
        (f"/threads/{t.id}/runs/run_doesnotexist/submit_tool_outputs",
         {"stream": True, "tool_outputs": [{"tool_call_id": "call_x", "output": "x"}]}, 404, None),
    ]
    for path, body, status, param in cases:
        r = sraw.post(path, json=body)
        assert r.status_code == status, (path, body, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), (path, r.headers["content-type"])
        if param is not None:
            assert r.json()["error"]["param"] == param, r.json()
    assert upstream.requests(tag) == []

    # through the SDK the error is raised when the stream is opened
    with pytest.raises(openai.NotFoundError):
        with sc.beta.threads.runs.create_and_stream(thread_id=t.id, assistant_id="asst_doesnotexist"):
            pass
