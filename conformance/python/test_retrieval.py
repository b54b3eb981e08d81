"""v1 `retrieval` with openai 1.20.0, as the SDK's own examples and LlamaIndex's
OpenAIAssistantAgent use it: an assistant with the tool and `file_ids`, a run whose model
searches, a `retrieval` step, and an answer whose `file_citation` carries v1's `quote`."""

import time

import httpx
import pytest

from fake_upstream import text, tool_calls
from helpers import MODEL, unique, upload

NOTES = b"Project Falcon ships its first release on the ninth of March, after the beta closes."


@pytest.fixture
def c(engine_client):
    return engine_client


def wait_ingested(client, assistant_id):
    """v1 cannot watch ingestion; the v2 view of the same assistant shows its store's counts."""
    headers = {"Authorization": f"Bearer {client.api_key}", "OpenAI-Beta": "assistants=v2"}
    base = str(client.base_url).rstrip("/")
    deadline = time.monotonic() + 30
    with httpx.Client(headers=headers) as h:
        a = h.get(f"{base}/assistants/{assistant_id}").json()
        (vs,) = a["tool_resources"]["file_search"]["vector_store_ids"]
        while True:
            counts = h.get(f"{base}/vector_stores/{vs}").json()["file_counts"]
            if counts["in_progress"] == 0:
                assert counts["completed"] == counts["total"] == 1, counts
                return
            assert time.monotonic() < deadline, counts
            time.sleep(0.05)


def test_retrieval_run_cites_the_assistants_file(c, upstream):
    tag = upstream.new_tag()
    upstream.script(tag, tool_calls(("file_search", '{"query": "Falcon release date"}')),
                    text("Falcon ships on the ninth of March ", "【0:0†falcon.txt】."))
    f = upload(c, NOTES, name="falcon.txt")
    a = c.beta.assistants.create(model=MODEL, name=unique("retrieval"), tools=[{"type": "retrieval"}],
                                 file_ids=[f.id], instructions=f"You are a test assistant [{tag}].")
    wait_ingested(c, a.id)
    t = c.beta.threads.create(messages=[{"role": "user", "content": "When does Falcon ship?"}])
    run = c.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed", (run.status, run.last_error)

    steps = c.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].type == "retrieval"

    (answer,) = c.beta.threads.messages.list(t.id, order="desc", limit=1).data
    part = answer.content[0].text
    (note,) = part.annotations
    assert note.type == "file_citation"
    assert part.value[note.start_index:note.end_index] == "【0:0†falcon.txt】" == note.text
    assert note.file_citation.file_id == f.id
    assert "ninth of March" in note.file_citation.quote
