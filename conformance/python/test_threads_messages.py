"""Operations 10-19: threads, messages and message files, through openai==1.20.0."""

import openai
import pytest

from helpers import (MODEL, assert_error, assert_id, assert_recent, collect_all, expect_not_found, page_ids,
                     raw_json, upload)


def text_of(message) -> str:
    assert len(message.content) == 1, message.content
    part = message.content[0]
    assert part.type == "text"
    return part.text.value


# --- 10-13. threads -----------------------------------------------------------------------------

def test_create_empty_thread(client):
    t = client.beta.threads.create()
    assert_id(t.id, "thread")
    assert t.object == "thread"
    assert_recent(t.created_at)
    assert t.metadata in ({}, None)
    assert client.beta.threads.messages.list(t.id).data == []


def test_create_thread_without_body(raw):
    # The request body of createThread is optional.
    r = raw.post("/v1/threads")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "thread"
    assert body["id"].startswith("thread_")


def test_create_thread_with_messages_and_metadata(client):
    f = upload(client, b"attached", "att.txt")
    t = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first", "metadata": {"n": "1"}},
            {"role": "assistant", "content": "second"},
            {"role": "user", "content": "third", "file_ids": [f.id]},
        ],
        metadata={"project": "x"},
    )
    assert t.metadata == {"project": "x"}
    msgs = client.beta.threads.messages.list(t.id, order="asc").data
    assert [text_of(m) for m in msgs] == ["first", "second", "third"]
    assert [m.role for m in msgs] == ["user", "assistant", "user"]
    assert all(m.thread_id == t.id for m in msgs)
    assert msgs[0].metadata == {"n": "1"}
    assert msgs[2].file_ids == [f.id]
    assert msgs[0].file_ids == []
    # newest first by default
    assert [text_of(m) for m in client.beta.threads.messages.list(t.id).data] == ["third", "second", "first"]


def test_retrieve_and_update_thread(client):
    t = client.beta.threads.create(metadata={"a": "1"})
    got = client.beta.threads.retrieve(t.id)
    assert got.model_dump() == t.model_dump()
    u = client.beta.threads.update(t.id, metadata={"b": "2"})
    assert u.id == t.id
    assert u.created_at == t.created_at
    assert u.metadata == {"b": "2"}
    assert client.beta.threads.retrieve(t.id).metadata == {"b": "2"}


def test_thread_unknown_id_is_404(client):
    missing = "thread_doesnotexist000000000000"
    expect_not_found(client.beta.threads.retrieve, missing)
    expect_not_found(client.beta.threads.update, missing, metadata={"a": "b"})
    expect_not_found(client.beta.threads.delete, missing)
    expect_not_found(client.beta.threads.messages.list, missing)
    expect_not_found(client.beta.threads.messages.create, missing, role="user", content="x")
    expect_not_found(client.beta.threads.runs.list, missing)


def test_delete_thread_removes_messages_and_runs(client):
    a = client.beta.assistants.create(model=MODEL)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    m = client.beta.threads.messages.list(t.id).data[0]
    run = client.beta.threads.runs.create(t.id, assistant_id=a.id)

    d = client.beta.threads.delete(t.id)
    assert d.id == t.id
    assert d.object == "thread.deleted"
    assert d.deleted is True

    expect_not_found(client.beta.threads.retrieve, t.id)
    expect_not_found(client.beta.threads.messages.list, t.id)
    expect_not_found(client.beta.threads.messages.retrieve, m.id, thread_id=t.id)
    expect_not_found(client.beta.threads.runs.list, t.id)
    expect_not_found(client.beta.threads.runs.retrieve, run.id, thread_id=t.id)
    expect_not_found(client.beta.threads.runs.steps.list, run.id, thread_id=t.id)
    expect_not_found(client.beta.threads.delete, t.id)
    # the assistant is untouched
    assert client.beta.assistants.retrieve(a.id).id == a.id


@pytest.mark.parametrize("kwargs, param", [
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages"),
])
def test_create_thread_invalid_is_400(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.create(**kwargs)
    assert_error(ei, 400, param_prefix=param)


def test_update_thread_metadata_limit_is_400(client):
    t = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.update(t.id, metadata={f"k{i}": "v" for i in range(17)})
    assert_error(ei, 400, param="metadata")


# --- 14-17. messages --------------------------------------------------------------------------

def test_create_and_retrieve_message(client):
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content="What is 2+2?", metadata={"q": "1"})
    assert_id(m.id, "msg")
    assert m.object == "thread.message"
    assert_recent(m.created_at)
    assert m.thread_id == t.id
    assert m.role == "user"
    assert text_of(m) == "What is 2+2?"
    assert m.content[0].text.annotations == []
    assert m.assistant_id is None
    assert m.run_id is None
    assert m.file_ids == []
    assert m.metadata == {"q": "1"}
    assert m.incomplete_details is None
    assert m.incomplete_at is None

    got = client.beta.threads.messages.retrieve(m.id, thread_id=t.id)
    assert got.model_dump() == m.model_dump()


def test_create_assistant_role_message(client):
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="assistant", content="Hi, how can I help?")
    assert m.role == "assistant"
    assert text_of(m) == "Hi, how can I help?"


def test_update_message_metadata(client):
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content="hello")
    u = client.beta.threads.messages.update(m.id, thread_id=t.id, metadata={"tag": "x"})
    assert u.id == m.id
    assert u.metadata == {"tag": "x"}
    assert text_of(u) == "hello"
    assert client.beta.threads.messages.retrieve(m.id, thread_id=t.id).metadata == {"tag": "x"}


def test_message_unknown_ids_are_404(client):
    t = client.beta.threads.create()
    other = client.beta.threads.create()
    m = client.beta.threads.messages.create(other.id, role="user", content="elsewhere")
    expect_not_found(client.beta.threads.messages.retrieve, "msg_doesnotexist000000000000", thread_id=t.id)
    expect_not_found(client.beta.threads.messages.update, "msg_doesnotexist000000000000", thread_id=t.id,
                     metadata={"a": "b"})
    # a message is only reachable through its own thread
    expect_not_found(client.beta.threads.messages.retrieve, m.id, thread_id=t.id)
    expect_not_found(client.beta.threads.messages.files.list, m.id, thread_id=t.id)


def test_list_messages_order_cursors_and_pagination(client):
    t = client.beta.threads.create()
    ids = [client.beta.threads.messages.create(t.id, role="user", content=f"m{i}").id for i in range(7)]
    assert page_ids(client.beta.threads.messages.list(t.id, order="asc")) == ids
    assert page_ids(client.beta.threads.messages.list(t.id, order="desc")) == list(reversed(ids))
    assert page_ids(client.beta.threads.messages.list(t.id)) == list(reversed(ids))
    assert page_ids(client.beta.threads.messages.list(t.id, order="asc", after=ids[2], limit=2)) == ids[3:5]
    assert page_ids(client.beta.threads.messages.list(t.id, order="desc", after=ids[2])) == [ids[1], ids[0]]
    assert page_ids(client.beta.threads.messages.list(t.id, order="asc", before=ids[2])) == ids[:2]
    assert page_ids(client.beta.threads.messages.list(t.id, order="desc", before=ids[4])) == [ids[6], ids[5]]
    body = raw_json(client.beta.threads.messages.with_raw_response.list(t.id, limit=3, order="asc"))
    assert body["first_id"] == ids[0] and body["last_id"] == ids[2] and body["has_more"] is True
    assert collect_all(client.beta.threads.messages.list(t.id, limit=3, order="asc")) == ids
    assert collect_all(client.beta.threads.messages.list(t.id, limit=2)) == list(reversed(ids))


def test_list_messages_run_id_filter(client):
    a = client.beta.assistants.create(model=MODEL)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "before the run"}])
    run = client.beta.threads.runs.create(t.id, assistant_id=a.id)
    all_msgs = client.beta.threads.messages.list(t.id).data
    assert len(all_msgs) >= 1
    filtered = client.beta.threads.messages.list(t.id, run_id=run.id).data
    assert all(m.run_id == run.id for m in filtered), [m.run_id for m in filtered]
    assert "before the run" not in [text_of(m) for m in filtered if m.content and m.content[0].type == "text"]
    # a filter naming no run of the thread matches nothing
    body = raw_json(client.beta.threads.messages.with_raw_response.list(t.id, run_id="run_doesnotexist00000000"))
    assert body["data"] == [] and body["first_id"] is None and body["has_more"] is False


@pytest.mark.parametrize("kwargs, param", [
    ({"role": "user", "content": ""}, "content"),
    ({"role": "user", "content": "x" * 256001}, "content"),
    ({"role": "system", "content": "x"}, "role"),
    ({"role": "user", "content": "x", "file_ids": [f"file-{i:024d}" for i in range(11)]}, "file_ids"),
    ({"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
])
def test_create_message_invalid_is_400(client, kwargs, param):
    t = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.messages.create(t.id, **kwargs)
    assert_error(ei, 400, param=param)
    assert client.beta.threads.messages.list(t.id).data == []


def test_create_message_missing_content_is_400(client, raw):
    t = client.beta.threads.create()
    r = raw.post(f"/v1/threads/{t.id}/messages", json={"role": "user"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "content"


# --- 18-19. message files ----------------------------------------------------------------------

def test_message_files_list_and_retrieve(client):
    f1 = upload(client, b"one", "one.txt")
    f2 = upload(client, b"two", "two.txt")
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content="see files", file_ids=[f1.id, f2.id])
    assert m.file_ids == [f1.id, f2.id]

    asc = client.beta.threads.messages.files.list(m.id, thread_id=t.id, order="asc")
    assert page_ids(asc) == [f1.id, f2.id]
    for mf in asc.data:
        assert mf.object == "thread.message.file"
        assert mf.message_id == m.id
        assert isinstance(mf.created_at, int)
    assert page_ids(client.beta.threads.messages.files.list(m.id, thread_id=t.id)) == [f2.id, f1.id]
    assert page_ids(client.beta.threads.messages.files.list(m.id, thread_id=t.id, order="asc",
                                                            after=f1.id)) == [f2.id]
    body = raw_json(client.beta.threads.messages.files.with_raw_response.list(m.id, thread_id=t.id, limit=1))
    assert len(body["data"]) == 1 and body["has_more"] is True
    assert collect_all(client.beta.threads.messages.files.list(m.id, thread_id=t.id, limit=1)) == [f2.id, f1.id]

    got = client.beta.threads.messages.files.retrieve(f1.id, thread_id=t.id, message_id=m.id)
    assert got.id == f1.id
    assert got.object == "thread.message.file"
    assert got.message_id == m.id

    expect_not_found(client.beta.threads.messages.files.retrieve, "file-doesnotexist0000000000",
                     thread_id=t.id, message_id=m.id)
    # a real file that is not attached to this message
    f3 = upload(client, b"three", "three.txt")
    expect_not_found(client.beta.threads.messages.files.retrieve, f3.id, thread_id=t.id, message_id=m.id)


def test_message_without_files_has_empty_file_list(client):
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content="no files")
    body = raw_json(client.beta.threads.messages.files.with_raw_response.list(m.id, thread_id=t.id))
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_message_with_unknown_file_is_an_error(client):
    t = client.beta.threads.create()
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        client.beta.threads.messages.create(t.id, role="user", content="x", file_ids=["file-doesnotexist0000000"])
    err = assert_error(ei, ei.value.status_code)
    if ei.value.status_code == 400:
        assert isinstance(err["param"], str) and err["param"].startswith("file_ids"), err


def test_deleting_file_detaches_it_from_message(client):
    f1 = upload(client, b"keep", "keep.txt")
    f2 = upload(client, b"drop", "drop.txt")
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content="x", file_ids=[f1.id, f2.id])
    client.files.delete(f2.id)
    assert client.beta.threads.messages.retrieve(m.id, thread_id=t.id).file_ids == [f1.id]
    assert page_ids(client.beta.threads.messages.files.list(m.id, thread_id=t.id)) == [f1.id]
    expect_not_found(client.beta.threads.messages.files.retrieve, f2.id, thread_id=t.id, message_id=m.id)
