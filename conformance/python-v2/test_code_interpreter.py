"""`code_interpreter` through openai==3.63.0: the streaming helper with the event handler of OpenAI's
v2 docs, a chart whose PNG downloads with `client.files.content`, and a CSV given through
`tool_resources.code_interpreter.file_ids` (and one attached to a message) read from /mnt/data.

The server really runs the code in its sandbox: these tests need its Python
(ASSISTD_TEST_SANDBOX_PYTHON; they skip without it, or fail when ASSISTD_TEST_SANDBOX=required).
Every response and SSE event is validated against the v2 spec by conftest's hook.
"""

from __future__ import annotations

import json
from typing import List

import pytest
from openai import AssistantEventHandler
from typing_extensions import override

from fake_upstream import auto_code, text, tool_calls
from harness import require_sandbox
from helpers_v2 import assistant, tag, upload

pytestmark = pytest.mark.timeout(120)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOOLS = [{"type": "code_interpreter"}]


@pytest.fixture(autouse=True)
def _sandbox():
    require_sandbox()


def run_code(code: str):
    return tool_calls(("code_interpreter", json.dumps({"code": code})), pieces=3)


def code_calls(client, thread_id: str, run_id: str):
    steps = list(client.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run_id, order="asc"))
    return [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]


class DocsHandler(AssistantEventHandler):
    """The event handler of OpenAI's v2 Assistants quickstart (streaming, code_interpreter), printing
    as it does; it also keeps what it printed apart for the assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.created: List[str] = []
        self.inputs: List[str] = []
        self.logs: List[str] = []
        self.texts: List[str] = []

    @override
    def on_text_created(self, text) -> None:
        print("\nassistant > ", end="", flush=True)

    @override
    def on_text_delta(self, delta, snapshot):
        self.texts.append(delta.value)
        print(delta.value, end="", flush=True)

    def on_tool_call_created(self, tool_call):
        self.created.append(tool_call.type)
        print(f"\nassistant > {tool_call.type}\n", flush=True)

    def on_tool_call_delta(self, delta, snapshot):
        if delta.type == "code_interpreter":
            if delta.code_interpreter.input:
                self.inputs.append(delta.code_interpreter.input)
                print(delta.code_interpreter.input, end="", flush=True)
            if delta.code_interpreter.outputs:
                print("\n\noutput >", flush=True)
                for output in delta.code_interpreter.outputs:
                    if output.type == "logs":
                        self.logs.append(output.logs)
                        print(f"\n{output.logs}", flush=True)


def test_runs_stream_with_the_docs_event_handler(client, upstream, capsys):
    """Untagged, as in the docs: the fake upstream's unscripted code_interpreter behaviour answers."""
    a = client.beta.assistants.create(
        name="Math Tutor",
        instructions="You are a personal math tutor. Write and run code to answer math questions.",
        tools=TOOLS, model="gpt-4o")
    question = "I need to solve the equation `3x + 11 = 14`. Can you help me?"
    t = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=t.id, role="user", content=question)
    before = len(upstream.auto_requests())
    handler = DocsHandler()
    with client.beta.threads.runs.stream(
            thread_id=t.id, assistant_id=a.id,
            instructions="Please address the user as Jane Doe. The user has a premium account.",
            event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
    out = capsys.readouterr().out
    code = auto_code(question)
    assert run.status == "completed", run
    assert handler.created == ["code_interpreter"]
    assert len(handler.inputs) >= 2 and "".join(handler.inputs) == code, handler.inputs
    assert handler.logs == ["x = 1\n"]
    assert f"\nassistant > code_interpreter\n\n{code}\n\noutput >\n\nx = 1\n" in out, out
    assert "x = 1" in "".join(handler.texts)
    calls = code_calls(client, t.id, run.id)
    assert len(calls) == 1 and calls[0].type == "code_interpreter"
    assert calls[0].code_interpreter.input == code
    assert [(o.type, o.logs) for o in calls[0].code_interpreter.outputs] == [("logs", "x = 1\n")]
    autos = upstream.auto_requests()[before:]
    assert len(autos) == 2 and any(m["role"] == "tool" and "x = 1" in m["content"] for m in autos[1].messages)


def test_a_chart_comes_back_as_an_image_file_that_downloads_as_png(client, upstream):
    tg = tag()
    code = ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "xs = list(range(1, 6))\nplt.plot(xs, [x * x for x in xs])\nplt.title('Squares')\n"
            "plt.savefig('/mnt/data/squares.png')\nprint('saved', len(xs), 'points')")
    link = "sandbox:/mnt/data/squares.png"
    upstream.script(tg, run_code(code), text("Here is the chart: ", f"[download it]({link})", "."))
    a = assistant(client, tg, tools=TOOLS)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "Plot the squares of 1..5."}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed", run.last_error
    calls = code_calls(client, t.id, run.id)
    assert len(calls) == 1
    outputs = calls[0].code_interpreter.outputs
    assert [o.type for o in outputs] == ["logs", "image"], outputs
    assert outputs[0].logs == "saved 5 points\n"
    image_id = outputs[1].image.file_id

    m = client.beta.threads.messages.list(thread_id=t.id, limit=1).data[0]
    assert m.role == "assistant" and m.run_id == run.id
    assert [c.type for c in m.content] == ["image_file", "text"], m.content
    assert m.content[0].image_file.file_id == image_id
    body = m.content[1].text
    assert body.value == f"Here is the chart: [download it]({link})."
    [note] = body.annotations
    assert note.type == "file_path" and note.text == link and note.file_path.file_id == image_id
    assert body.value[note.start_index:note.end_index] == link

    f = client.files.retrieve(image_id)
    assert f.purpose == "assistants_output" and f.filename == "squares.png"
    data = client.files.content(image_id).read()
    assert data.startswith(PNG_MAGIC) and len(data) == f.bytes
    # IHDR: a real, non-empty image
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 0 and height > 0


CSV = b"region,units\nnorth,10\nsouth,20\neast,30\n"


def test_a_csv_in_tool_resources_is_analysed_from_mnt_data(client, upstream):
    tg = tag()
    f = upload(client, CSV, name="sales.csv")
    code = ("import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\n"
            "print(int(df['units'].sum()), df.loc[df['units'].idxmax(), 'region'])")
    upstream.script(tg, run_code(code), text("60 units in total; east sold the most."))
    a = assistant(client, tg, tools=TOOLS, tool_resources={"code_interpreter": {"file_ids": [f.id]}})
    assert a.tool_resources.code_interpreter.file_ids == [f.id]
    t = client.beta.threads.create(messages=[{"role": "user", "content": "Total units, and the best region?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed", run.last_error
    [call] = code_calls(client, t.id, run.id)
    assert call.code_interpreter.input == code
    assert [(o.type, o.logs) for o in call.code_interpreter.outputs] == [("logs", "60 east\n")]
    second = upstream.requests(tg)[1]
    assert any(m["role"] == "tool" and "60 east" in m["content"] for m in second.messages)
    m = client.beta.threads.messages.list(thread_id=t.id, limit=1).data[0]
    assert [c.type for c in m.content] == ["text"]
    assert m.content[0].text.value == "60 units in total; east sold the most."


def test_a_csv_attached_to_a_message_is_readable(client, upstream):
    tg = tag()
    f = upload(client, CSV, name="attached.csv")
    code = "import csv\nrows = list(csv.DictReader(open('/mnt/data/attached.csv')))\nprint(len(rows), 'rows')"
    upstream.script(tg, run_code(code), text("3 rows."))
    a = assistant(client, tg, tools=TOOLS)
    t = client.beta.threads.create(messages=[{
        "role": "user", "content": "How many rows?",
        "attachments": [{"file_id": f.id, "tools": [{"type": "code_interpreter"}]}]}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed", run.last_error
    [call] = code_calls(client, t.id, run.id)
    assert [(o.type, o.logs) for o in call.code_interpreter.outputs] == [("logs", "3 rows\n")]
