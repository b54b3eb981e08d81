"""client.files under v2 (openai 3.63.0): POST /files without a beta header, expires_after, the v2
purposes, list paging."""

import openai
import pytest

from helpers_v2 import assert_error, assert_id, assert_recent, iterate, upload


def test_create_sends_no_beta_header_and_reads_back(watched):
    client, seen = watched
    f = client.files.create(file=("a.txt", b"hello"), purpose="assistants")
    [(method, path, status, body, beta)] = [r for r in seen.responses if r[1] == "/files" and r[0] == "POST"]
    assert beta is None, "openai 3.63.0 sends POST /files without OpenAI-Beta"
    assert status == 200 and "expires_at" in body
    assert_id(f.id, "file")
    assert_recent(f.created_at)
    assert (f.object, f.bytes, f.filename, f.purpose) == ("file", 5, "a.txt", "assistants")
    assert f.expires_at is None
    assert client.files.retrieve(f.id).model_dump() == f.model_dump()
    assert client.files.content(f.id).read() == b"hello"
    d = client.files.delete(f.id)
    assert (d.id, d.deleted, d.object) == (f.id, True, "file")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)


def test_expires_after(client):
    f = client.files.create(file=("e.txt", b"soon"), purpose="assistants",
                            expires_after={"anchor": "created_at", "seconds": 3600})
    assert f.expires_at == f.created_at + 3600
    with pytest.raises(openai.BadRequestError) as ei:
        client.files.create(file=("e.txt", b"x"), purpose="assistants",
                            expires_after={"anchor": "created_at", "seconds": 60})
    assert_error(ei, 400, param_prefix="expires_after")


@pytest.mark.parametrize("purpose", ["assistants", "vision", "user_data", "batch", "fine-tune"])
def test_v2_purposes(client, purpose):
    content = b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n' \
        if purpose == "batch" else b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n' \
        if purpose == "fine-tune" else b"data"
    name = "x.jsonl" if purpose in ("batch", "fine-tune") else "x.png" if purpose == "vision" else "x.txt"
    f = client.files.create(file=(name, content), purpose=purpose)
    assert f.purpose == purpose
    assert f.id in [x.id for x in client.files.list(purpose=purpose)]


def test_unknown_purpose_is_rejected(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.files.create(file=("x.txt", b"x"), purpose="nonsense")
    assert_error(ei, 400, param="purpose")


def test_list_paging(fresh_files_client):
    client = fresh_files_client
    ids = [upload(client, f"f{i}".encode(), f"f{i}.txt").id for i in range(5)]
    page = client.files.list(limit=2, order="asc")
    assert [x.id for x in page.data] == ids[:2] and page.has_more is True
    assert [x.id for x in iterate(client.files.list(limit=2, order="asc"))] == ids
    assert [x.id for x in iterate(client.files.list(limit=3, order="desc"))] == ids[::-1]
    assert [x.id for x in client.files.list(after=ids[1], order="asc", limit=10).data] == ids[2:]
