"""Operations 29-33: files, through openai==1.20.0."""

import json

import openai
import pytest

from helpers import assert_error, assert_id, assert_recent, expect_not_found, raw_json, upload

FINE_TUNE_JSONL = (
    json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n"
).encode()


def test_upload_retrieve_and_download(client):
    f = client.files.create(file=("a.txt", b"hello"), purpose="assistants")
    assert_id(f.id, "file")
    assert f.object == "file"
    assert f.bytes == 5
    assert f.filename == "a.txt"
    assert f.purpose == "assistants"
    assert f.status in ("uploaded", "processed")
    assert_recent(f.created_at)

    got = client.files.retrieve(f.id)
    assert got.model_dump() == f.model_dump()

    content = client.files.content(f.id)
    assert content.read() == b"hello"


def test_upload_binary_content_roundtrip(client):
    data = bytes(range(256)) * 40
    f = client.files.create(file=("blob.bin", data), purpose="assistants")
    assert f.bytes == len(data)
    assert client.files.content(f.id).read() == data


def test_list_files_and_purpose_filter(client):
    a = upload(client, b"for assistants", "as.txt", "assistants")
    ft = client.files.create(file=("train.jsonl", FINE_TUNE_JSONL), purpose="fine-tune")
    assert ft.purpose == "fine-tune"
    assert ft.filename == "train.jsonl"

    body = raw_json(client.files.with_raw_response.list())
    assert body["object"] == "list"
    ids = [x["id"] for x in body["data"]]
    assert a.id in ids and ft.id in ids
    assert len(ids) == len(set(ids))
    # newest first
    assert ids.index(ft.id) < ids.index(a.id)

    only_assistants = client.files.list(purpose="assistants").data
    assert a.id in [x.id for x in only_assistants]
    assert all(x.purpose == "assistants" for x in only_assistants)
    assert ft.id not in [x.id for x in only_assistants]

    only_ft = client.files.list(purpose="fine-tune").data
    assert [x.id for x in only_ft if x.id in (a.id, ft.id)] == [ft.id]
    assert all(x.purpose == "fine-tune" for x in only_ft)


def test_sdk_list_files_iterates_once(client):
    f = upload(client, b"iter", "iter.txt")
    seen = [x.id for x in client.files.list()]
    assert f.id in seen
    assert len(seen) == len(set(seen))


def test_delete_file(client):
    f = upload(client, b"bye", "bye.txt")
    d = client.files.delete(f.id)
    assert d.id == f.id
    assert d.object == "file"
    assert d.deleted is True
    expect_not_found(client.files.retrieve, f.id)
    expect_not_found(client.files.content, f.id)
    expect_not_found(client.files.delete, f.id)
    assert f.id not in [x.id for x in client.files.list()]


def test_unknown_file_is_404(client):
    missing = "file-doesnotexist0000000000"
    expect_not_found(client.files.retrieve, missing)
    expect_not_found(client.files.content, missing)
    expect_not_found(client.files.delete, missing)


def test_upload_invalid_purpose_is_400(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.files.create(file=("a.txt", b"x"), purpose="batch-of-nonsense")
    assert_error(ei, 400, param="purpose")


def test_upload_without_file_is_400(raw):
    # multipart/form-data with only the purpose field
    r = raw.post("/v1/files", files={"purpose": (None, b"assistants")})
    assert r.request.headers["content-type"].startswith("multipart/form-data")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "file"


def test_upload_without_purpose_is_400(raw):
    r = raw.post("/v1/files", files={"file": ("x.txt", b"x")})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "purpose"
