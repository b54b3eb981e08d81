"""file_search in runs with openai 3.63.0, as an app would use it: files uploaded into a vector
store with the SDK's pollers, an assistant searching it, `create_and_poll` with `include[]`, the
step's results, the answer's `file_citation` annotations, the search endpoint, and `stream()`
with its event handler seeing the file_search call."""

from fake_upstream import text, tool_calls
from typing_extensions import override

import openai

from helpers_v2 import INCLUDE, assistant, tag

LAUNCH = b"# Plans\n\nThe rocket launch is scheduled for Tuesday at dawn, weather permitting."
WEATHER = b"Rain is expected all week in the harbour town, with strong winds."


def store_with_files(client):
    vs = client.vector_stores.create(name="plans")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[("launch.md", LAUNCH), ("weather.md", WEATHER)])
    assert batch.file_counts.completed == 2, batch
    files = {client.files.retrieve(f.id).filename: f.id
             for f in client.vector_stores.files.list(vs.id).data}
    return vs, files


def check_citation(message, marker, file_id):
    part = message.content[0].text
    (note,) = part.annotations
    assert note.type == "file_citation" and note.text == marker
    assert part.value[note.start_index:note.end_index] == marker
    assert note.file_citation.file_id == file_id


def test_a_run_searches_the_store_and_cites_the_file(client, upstream):
    tg = tag()
    upstream.script(tg, tool_calls(("file_search", '{"query": "when is the rocket launch"}')),
                    text("It launches on Tuesday ", "【0:0†launch.md】."))
    vs, files = store_with_files(client)

    found = client.vector_stores.search(vs.id, query="rocket launch day").data
    assert found and found[0].file_id == files["launch.md"] and found[0].filename == "launch.md"
    assert 0.0 <= found[0].score <= 1.0
    assert "Tuesday at dawn" in found[0].content[0].text

    a = assistant(client, tg, tools=[{"type": "file_search"}],
                  tool_resources={"file_search": {"vector_store_ids": [vs.id]}})
    t = client.beta.threads.create(messages=[{"role": "user", "content": "When is the launch?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, include=[INCLUDE])
    assert run.status == "completed", run

    body = upstream.wait_for_requests(tg, 2)[1].body
    tool_msg = next(m for m in body["messages"] if m["role"] == "tool")
    assert tool_msg["content"].startswith("【0:0†launch.md】")

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc", include=[INCLUDE]).data
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "file_search"
    assert call.file_search.ranking_options.ranker == "auto"
    assert call.file_search.results[0].file_id == files["launch.md"]
    assert "Tuesday at dawn" in call.file_search.results[0].content[0].text
    plain = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=t.id, run_id=run.id)
    assert plain.step_details.tool_calls[0].file_search.results[0].content is None

    (answer,) = client.beta.threads.messages.list(t.id, run_id=run.id).data
    check_citation(answer, "【0:0†launch.md】", files["launch.md"])


def test_stream_shows_the_search_call(client, upstream):
    tg = tag()
    upstream.script(tg, tool_calls(("file_search", '{"query": "harbour rain"}')),
                    text("Rain ", "【0:0†weather.md】."))
    vs, files = store_with_files(client)
    a = assistant(client, tg, tools=[{"type": "file_search"}],
                  tool_resources={"file_search": {"vector_store_ids": [vs.id]}})
    t = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])

    class Handler(openai.AssistantEventHandler):
        def __init__(self):
            super().__init__()
            self.calls = []

        @override
        def on_tool_call_created(self, tool_call):
            self.calls.append(tool_call.type)

    handler = Handler()
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, event_handler=handler) as s:
        s.until_done()
        final = s.get_final_messages()
    assert handler.calls == ["file_search"]
    check_citation(final[0], "【0:0†weather.md】", files["weather.md"])
