"""The v2 stream helpers of openai 3.63.0: runs.stream with an AssistantEventHandler,
create_and_run_stream, submit_tool_outputs_stream, `stream=True` on create, and the v2 event set
(`thread.created` first from create-and-run, `thread.run.incomplete`, `thread.message.incomplete`).
Every event is also validated against its AssistantStreamEvent branch by conftest's hook."""

from typing import List

from fake_upstream import text, tool_calls
from openai import AssistantEventHandler

from helpers_v2 import FUNCTION, INCLUDE, assistant, tag

RUN_TERMINAL = {"thread.run.completed", "thread.run.incomplete", "thread.run.failed", "thread.run.cancelled",
                "thread.run.expired", "thread.run.requires_action"}


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: List[str] = []
        self.text_deltas: List[str] = []
        self.text_done: List[str] = []
        self.tool_calls_created: List[str] = []
        self.tool_call_deltas = 0
        self.messages_done = 0
        self.ended = False

    def on_event(self, event) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot) -> None:
        self.text_deltas.append(delta.value)

    def on_text_done(self, text_) -> None:
        self.text_done.append(text_.value)

    def on_tool_call_created(self, tool_call) -> None:
        self.tool_calls_created.append(tool_call.type)

    def on_tool_call_delta(self, delta, snapshot) -> None:
        self.tool_call_deltas += 1

    def on_message_done(self, message) -> None:
        self.messages_done += 1

    def on_end(self) -> None:
        self.ended = True


def assert_ordered(events: List[str]) -> None:
    assert events[0] in ("thread.created", "thread.run.created"), events
    created = events.index("thread.run.created")
    assert events[created + 1] == "thread.run.queued", events
    assert "thread.run.in_progress" in events
    assert sum(e in RUN_TERMINAL for e in events) == 1, events
    assert events[-1] in RUN_TERMINAL, events  # `done` is consumed by the SDK


def test_runs_stream_with_event_handler(client, upstream):
    tg = tag()
    upstream.script(tg, text("Hel", "lo", "!"))
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, include=[INCLUDE],
                                         event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
        messages = stream.get_final_messages()
        steps = stream.get_final_run_steps()
    assert run.status == "completed" and run.parallel_tool_calls is True
    assert handler.text_deltas == ["Hel", "lo", "!"]
    assert handler.text_done == ["Hello!"]
    assert handler.messages_done == 1 and handler.ended
    assert [m.content[0].text.value for m in messages] == ["Hello!"]
    assert [s.type for s in steps] == ["message_creation"]
    ev = handler.events
    assert_ordered(ev)
    assert ev.index("thread.message.created") < ev.index("thread.message.delta") < ev.index("thread.message.completed")
    assert ev.index("thread.run.step.created") < ev.index("thread.run.step.completed")


def test_stream_true_on_create_yields_typed_events(client, upstream):
    tg = tag()
    upstream.script(tg, text("a", "b"))
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    events = list(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, stream=True))
    names = [e.event for e in events]
    assert_ordered(names)
    assert events[-1].data.status == "completed"


def test_create_and_run_stream_starts_with_thread_created(client, upstream):
    tg = tag()
    upstream.script(tg, text("fresh"))
    a = assistant(client, tg)
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
            assistant_id=a.id, thread={"messages": [{"role": "user", "content": "hi"}]},
            event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert handler.events[0] == "thread.created"
    assert_ordered(handler.events)
    assert run.status == "completed"
    assert handler.text_done == ["fresh"]


def test_tool_call_then_submit_tool_outputs_stream(client, upstream):
    tg = tag()
    upstream.script(tg, tool_calls(("get_weather", '{"city": "Paris"}')), text("Sun", "ny."))
    a = assistant(client, tg, tools=[{"type": "function", "function": FUNCTION}])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    first = Recorder()
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, event_handler=first) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    assert first.events[-1] == "thread.run.requires_action"
    assert first.tool_calls_created == ["function"] and first.tool_call_deltas >= 1
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather" and '"Paris"' in call.function.arguments
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
            tool_outputs=[{"tool_call_id": call.id, "output": "22C"}], run_id=run.id, thread_id=t.id,
            event_handler=second) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert final.status == "completed"
    run_events = [e for e in second.events if e.startswith("thread.run.") and not e.startswith("thread.run.step.")]
    assert run_events[:2] == ["thread.run.queued", "thread.run.in_progress"], second.events
    assert second.text_done == ["Sunny."]
    assert second.events[-1] == "thread.run.completed"


def test_incomplete_run_streams_incomplete_events(client, upstream):
    tg = tag()
    upstream.script(tg, text("trunc", "ated", finish="length", completion_tokens=256))
    a = assistant(client, tg)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "long please"}])
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, max_completion_tokens=256,
                                         event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert "thread.message.incomplete" in handler.events, handler.events
    assert "thread.message.completed" not in handler.events
    assert handler.events[-1] == "thread.run.incomplete"
