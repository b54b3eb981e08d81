"""`code_interpreter` through openai==1.20.0: the SDK's own examples, run unmodified.

`sdk_examples/` holds verbatim copies of openai-python's `examples/assistant.py` (create_and_poll),
`assistant_stream.py` (`stream=True`) and `assistant_stream_helpers.py` (`runs.stream` with an
AssistantEventHandler). Each is executed as it is, against the engine server; the only thing
swapped is `openai.OpenAI`, which returns the suite's client of the engine server (every response
validated against the v1 spec, strict SDK parsing). Their model, `gpt-4-1106-preview`, goes to the
fake upstream like every model of the engine server, and their instructions carry no tag: the fake
answers them with its unscripted code_interpreter behaviour (fake_upstream.auto_reply) — a call of
the `code_interpreter` function whose code solves `3x + 11 = 14` and prints `x = 1`, then an answer
quoting what the code printed. The server really runs that code in its sandbox, so these tests need
the sandbox's Python (ASSISTD_TEST_SANDBOX_PYTHON; they skip without it, or fail when
ASSISTD_TEST_SANDBOX=required).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import openai
import pytest

from conftest import KEY_A, _validation_hook, httpx
from fake_upstream import auto_code
from harness import require_sandbox

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent / "sdk_examples"
QUESTION = "I need to solve the equation `3x + 11 = 14`. Can you help me?"
CODE = auto_code(QUESTION)
LOGS = "x = 1\n"
MODEL = "gpt-4-1106-preview"


@pytest.fixture
def run_example(engine_server, upstream, monkeypatch, capsys):
    """run_example(name) -> (the example's globals, what it printed)."""
    require_sandbox()
    clients: List[openai.OpenAI] = []
    real = openai.OpenAI

    def factory(*args: Any, **kwargs: Any) -> openai.OpenAI:
        # conftest.make_client's client, built with the real class (make_client would call the patch)
        http_client = httpx.Client(event_hooks={"response": [_validation_hook]}, timeout=60)
        c = real(api_key=KEY_A, base_url=engine_server.base_url, http_client=http_client, max_retries=0,
                 timeout=60, _strict_response_validation=True)
        clients.append(c)
        return c

    monkeypatch.setattr(openai, "OpenAI", factory)

    def run(name: str):
        path = EXAMPLES / name
        namespace: Dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
        before = len(upstream.auto_requests())
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        out = capsys.readouterr().out
        autos = upstream.auto_requests()[before:]
        return namespace, out, autos

    yield run
    for c in clients:
        c.close()


def the_code_call(client: openai.OpenAI, thread_id: str, run_id: str):
    """The run's one tool_calls step and its one code_interpreter call, checked."""
    steps = list(client.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run_id, order="asc"))
    assert [s.type for s in steps] == ["tool_calls", "message_creation"], steps
    step = steps[0]
    assert step.status == "completed", step
    calls = step.step_details.tool_calls
    assert len(calls) == 1 and calls[0].type == "code_interpreter", calls
    call = calls[0]
    assert call.id.startswith("call_"), call.id
    assert call.code_interpreter.input == CODE
    logs = [o for o in call.code_interpreter.outputs if o.type == "logs"]
    assert len(logs) == 1 and logs[0].logs == LOGS, call.code_interpreter.outputs
    assert "x = 1" in logs[0].logs
    # what the server's retrieve shows is what the list showed
    again = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread_id, run_id=run_id)
    assert again.model_dump() == step.model_dump()
    return step, call


def check_upstream(autos) -> None:
    """Two model calls: the first offered the tool; the second read the code's output."""
    assert len(autos) == 2, [r.body for r in autos]
    first, second = autos
    assert first.body["model"] == MODEL
    tools = [t["function"]["name"] for t in first.body.get("tools", [])]
    assert tools == ["code_interpreter"], first.body.get("tools")
    assert "code" in first.body["tools"][0]["function"]["parameters"]["properties"]
    assert not any(m["role"] == "tool" for m in first.messages)
    tool_msgs = [m for m in second.messages if m["role"] == "tool"]
    assert len(tool_msgs) == 1 and "x = 1" in tool_msgs[0]["content"], second.messages
    # the assistant turn before it carries the call, with the code as its arguments
    calls = [m for m in second.messages if m["role"] == "assistant" and m.get("tool_calls")]
    assert json.loads(calls[-1]["tool_calls"][0]["function"]["arguments"]) == {"code": CODE}
    assert "Jane Doe" in json.dumps(first.messages), "the run's instructions reach the model"


def check_answer(client: openai.OpenAI, thread_id: str) -> str:
    msgs = list(client.beta.threads.messages.list(thread_id=thread_id))
    assert [m.role for m in msgs] == ["assistant", "user"], msgs
    answer = msgs[0]
    assert [c.type for c in answer.content] == ["text"], answer.content
    assert "x = 1" in answer.content[0].text.value
    assert answer.content[0].text.annotations == []
    return answer.content[0].text.value


def test_examples_assistant_py_create_and_poll(run_example, engine_client):
    ns, out, autos = run_example("assistant.py")
    assert "Run completed with status: completed" in out, out
    run = ns["run"]
    assert run.status == "completed" and run.last_error is None, run
    assert [t.type for t in run.tools] == ["code_interpreter"]
    assert "{'role': 'assistant', 'message': " in out and "x = 1" in out, out
    the_code_call(engine_client, ns["thread"].id, run.id)
    check_upstream(autos)
    check_answer(engine_client, ns["thread"].id)
    # the example deleted its assistant
    with pytest.raises(openai.NotFoundError):
        engine_client.beta.assistants.retrieve(ns["assistant"].id)


def _events(printed: str) -> List[Dict[str, Any]]:
    """The events that assistant_stream.py printed (model_dump_json(indent=2) one after another)."""
    dec = json.JSONDecoder()
    out, i = [], 0
    start = printed.index("starting run stream") + len("starting run stream")
    text = printed[start:]
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def test_examples_assistant_stream_py(run_example, engine_client):
    ns, out, autos = run_example("assistant_stream.py")
    events = _events(out)
    names = [e["event"] for e in events]
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed", names
    for expected in ("thread.run.step.created", "thread.run.step.delta", "thread.run.step.completed",
                     "thread.message.created", "thread.message.delta", "thread.message.completed"):
        assert expected in names, (expected, names)
    deltas = [e["data"]["delta"]["step_details"]["tool_calls"][0] for e in events
              if e["event"] == "thread.run.step.delta"]
    assert all(d["type"] == "code_interpreter" for d in deltas), deltas
    assert deltas[0]["id"].startswith("call_"), deltas[0]
    assert "".join(d["code_interpreter"].get("input", "") for d in deltas) == CODE
    outputs = [o for d in deltas for o in d["code_interpreter"].get("outputs") or []]
    assert outputs == [{"index": 0, "type": "logs", "logs": LOGS}], outputs
    # the step as completed in the stream
    done = [e["data"] for e in events if e["event"] == "thread.run.step.completed"]
    tool_step = [s for s in done if s["step_details"]["type"] == "tool_calls"]
    assert len(tool_step) == 1
    call = tool_step[0]["step_details"]["tool_calls"][0]["code_interpreter"]
    assert call["input"] == CODE and call["outputs"] == [{"type": "logs", "logs": LOGS}], call
    run_id = events[-1]["data"]["id"]
    step, _ = the_code_call(engine_client, ns["thread"].id, run_id)
    assert step.id == tool_step[0]["id"]
    check_upstream(autos)
    streamed_text = "".join(c["text"]["value"] for e in events if e["event"] == "thread.message.delta"
                            for c in e["data"]["delta"]["content"])
    assert check_answer(engine_client, ns["thread"].id) == streamed_text


def test_examples_assistant_stream_helpers_py(run_example, engine_client, monkeypatch):
    """The example's EventHandler as it is; the SDK's other callbacks are recorded on the base class."""
    seen: Dict[str, List[Any]] = {"created": [], "delta": [], "done": [], "runs": []}

    def on_tool_call_created(self, tool_call):
        seen["created"].append(tool_call)

    def on_tool_call_delta(self, delta, snapshot):
        seen["delta"].append((delta, snapshot.model_copy(deep=True)))

    def on_tool_call_done(self, tool_call):
        seen["done"].append(tool_call)

    def on_end(self):
        seen["runs"].append(self.current_run)

    for name, fn in (("on_tool_call_created", on_tool_call_created), ("on_tool_call_delta", on_tool_call_delta),
                     ("on_tool_call_done", on_tool_call_done), ("on_end", on_end)):
        monkeypatch.setattr(openai.AssistantEventHandler, name, fn)

    ns, out, autos = run_example("assistant_stream_helpers.py")
    # What the example prints: the question, the code as it streamed, then the answer.
    assert f"Question: {QUESTION}" in out, out
    assert f"Generating code to interpret:\n\n```py\n{CODE}\n```\nExecuting code..." in out, out
    assert "\nResponse:\n" in out and "x = 1" in out.split("Response:")[-1], out

    assert [c.type for c in seen["created"]] == ["code_interpreter"], seen["created"]
    assert seen["created"][0].id.startswith("call_")
    inputs = [d.code_interpreter.input for d, _ in seen["delta"]
              if d.code_interpreter is not None and d.code_interpreter.input]
    assert len(inputs) >= 2 and "".join(inputs) == CODE, inputs
    logs = [o for d, _ in seen["delta"] if d.code_interpreter is not None
            for o in d.code_interpreter.outputs or [] if o.type == "logs"]
    assert [o.logs for o in logs] == [LOGS] and logs[0].index == 0, logs
    assert all(d.type == "code_interpreter" and d.index == 0 for d, _ in seen["delta"])
    # the SDK's accumulated snapshot ends up as the whole call
    last = seen["delta"][-1][1]
    assert last.code_interpreter.input == CODE
    assert [(o.type, o.logs) for o in last.code_interpreter.outputs] == [("logs", LOGS)]
    # openai 1.20.0 never forgets its current tool call: on_tool_call_done fires again at every later
    # step completion and at thread.run.completed (the same with OpenAI), always for this one call.
    assert seen["done"] and {c.id for c in seen["done"]} == {seen["created"][0].id}, seen["done"]
    assert seen["done"][0].type == "code_interpreter" and seen["done"][0].code_interpreter.input == CODE

    run = seen["runs"][-1]
    assert run is not None and run.status == "completed", run
    the_code_call(engine_client, run.thread_id, run.id)
    check_upstream(autos)
    check_answer(engine_client, run.thread_id)
