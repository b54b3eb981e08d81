"""client.beta.threads and .messages (openai 3.63.0): tool_resources, attachments, part-array content,
message delete, list filters."""

import openai
import pytest

from helpers_v2 import assert_error, assert_id, iterate, upload


def test_thread_create_with_messages_attachments_and_tool_resources(client):
    vs = client.vector_stores.create(name="thread kb")
    f = upload(client, b"notes", "notes.txt")
    t = client.beta.threads.create(
        messages=[{"role": "user", "content": "look at this",
                   "attachments": [{"file_id": f.id, "tools": [{"type": "code_interpreter"}]}],
                   "metadata": {"n": "1"}}],
        tool_resources={"file_search": {"vector_store_ids": [vs.id]}, "code_interpreter": {"file_ids": [f.id]}},
        metadata={"t": "1"},
    )
    assert_id(t.id, "thread")
    assert t.tool_resources.file_search.vector_store_ids == [vs.id]
    assert t.tool_resources.code_interpreter.file_ids == [f.id]
    msgs = client.beta.threads.messages.list(t.id).data
    assert len(msgs) == 1
    m = msgs[0]
    assert m.attachments[0].file_id == f.id
    assert [x.type for x in m.attachments[0].tools] == ["code_interpreter"]
    assert m.content[0].text.value == "look at this"
    got = client.beta.threads.retrieve(t.id)
    assert got.tool_resources.file_search.vector_store_ids == [vs.id]


def test_thread_create_with_vector_stores_helper(client):
    f = upload(client, b"doc", "doc.txt")
    t = client.beta.threads.create(tool_resources={"file_search": {"vector_stores": [{"file_ids": [f.id]}]}})
    ids = t.tool_resources.file_search.vector_store_ids
    assert len(ids) == 1 and ids[0].startswith("vs_")
    assert client.vector_stores.retrieve(ids[0]).file_counts.total == 1


def test_thread_update_and_delete(client):
    t = client.beta.threads.create()
    assert t.tool_resources is None or t.tool_resources.file_search is None
    vs = client.vector_stores.create()
    up = client.beta.threads.update(t.id, tool_resources={"file_search": {"vector_store_ids": [vs.id]}},
                                    metadata={"x": "y"})
    assert up.tool_resources.file_search.vector_store_ids == [vs.id] and up.metadata == {"x": "y"}
    d = client.beta.threads.delete(t.id)
    assert (d.id, d.deleted, d.object) == (t.id, True, "thread.deleted")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(t.id)


def test_message_part_array_content(client):
    t = client.beta.threads.create()
    img = upload(client, b"\x89PNG\r\n\x1a\n0000", "p.png", purpose="vision")
    m = client.beta.threads.messages.create(t.id, role="user", content=[
        {"type": "text", "text": "first"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_file", "image_file": {"file_id": img.id, "detail": "high"}},
        {"type": "text", "text": "second"},
    ])
    assert [c.type for c in m.content] == ["text", "image_url", "image_file", "text"]
    assert m.content[0].text.value == "first" and m.content[0].text.annotations == []
    assert m.content[1].image_url.url == "https://example.com/cat.png" and m.content[1].image_url.detail == "low"
    assert m.content[2].image_file.file_id == img.id and m.content[2].image_file.detail == "high"
    assert m.attachments == [] or m.attachments is None


def test_message_attachments_add_files_to_the_threads_store(client):
    t = client.beta.threads.create()
    f = upload(client, b"for search", "s.txt")
    m = client.beta.threads.messages.create(
        t.id, role="user", content="search this",
        attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}])
    assert m.attachments[0].file_id == f.id and m.attachments[0].tools[0].type == "file_search"
    # OpenAI adds file_search attachments to a vector store attached to the thread
    thread = client.beta.threads.retrieve(t.id)
    ids = thread.tool_resources.file_search.vector_store_ids
    assert len(ids) == 1
    assert f.id in [x.id for x in client.vector_stores.files.list(ids[0])]


def test_message_retrieve_update_list_and_delete(client):
    t = client.beta.threads.create()
    ms = [client.beta.threads.messages.create(t.id, role="user", content=f"m{i}") for i in range(3)]
    got = client.beta.threads.messages.retrieve(ms[1].id, thread_id=t.id)
    assert got.id == ms[1].id and got.thread_id == t.id and got.status == "completed"
    up = client.beta.threads.messages.update(ms[1].id, thread_id=t.id, metadata={"a": "b"})
    assert up.metadata == {"a": "b"}
    asc = [x.id for x in iterate(client.beta.threads.messages.list(t.id, order="asc", limit=1))]
    assert asc == [m.id for m in ms]
    d = client.beta.threads.messages.delete(ms[1].id, thread_id=t.id)
    assert (d.id, d.deleted, d.object) == (ms[1].id, True, "thread.message.deleted")
    assert [x.id for x in client.beta.threads.messages.list(t.id, order="asc")] == [ms[0].id, ms[2].id]
    with pytest.raises(openai.NotFoundError) as ei:
        client.beta.threads.messages.retrieve(ms[1].id, thread_id=t.id)
    assert_error(ei, 404)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.delete(ms[1].id, thread_id=t.id)


def test_message_bad_attachments(client):
    t = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.messages.create(t.id, role="user", content="x",
                                            attachments=[{"tools": [{"type": "file_search"}]}])
    assert_error(ei, 400, param_prefix="attachments")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.messages.create(t.id, role="user", content=[])
    assert_error(ei, 400, param_prefix="content")
