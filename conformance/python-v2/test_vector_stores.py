"""client.vector_stores (openai 3.63.0): stores, files, batches and their pollers, content, search.

Ingestion in this issue only records a file, so `content` and `search` may answer empty pages;
shapes are checked (and the spec hook validates every body). `file_counts` must add up in every
body the SDK's pollers see."""

import time

import openai
import pytest

from helpers_v2 import assert_error, assert_recent, counts_add_up, iterate, upload

def all_counts_add_up(seen) -> int:
    """Check `file_counts` in every store / batch body seen (lists included); returns how many."""
    n = 0
    for (_method, path, status, body, _beta) in seen.responses:
        if status != 200 or not path.startswith("/vector_stores"):
            continue
        for obj in body.get("data", []) if body.get("object") == "list" else [body]:
            fc = obj.get("file_counts")
            if fc is None:
                continue
            assert sum(fc[k] for k in ("in_progress", "completed", "failed", "cancelled")) == fc["total"], obj
            n += 1
    return n


def test_vector_store_crud(watched):
    client, seen = watched
    f1, f2 = upload(client, b"one"), upload(client, b"two two")
    vs = client.vector_stores.create(name="kb", file_ids=[f1.id, f2.id], metadata={"a": "b"},
                                     expires_after={"anchor": "last_active_at", "days": 7},
                                     chunking_strategy={"type": "static", "static": {
                                         "max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100}})
    assert vs.id.startswith("vs_") and vs.object == "vector_store" and vs.name == "kb"
    assert_recent(vs.created_at)
    assert vs.file_counts.total == 2
    counts_add_up(vs.file_counts)
    assert vs.expires_after.days == 7 and vs.expires_after.anchor == "last_active_at"
    assert vs.expires_at is not None and vs.expires_at >= vs.created_at + 7 * 86400 - 5
    assert vs.status in ("in_progress", "completed")
    files = client.vector_stores.files.list(vs.id).data
    assert {f.id for f in files} == {f1.id, f2.id}
    assert all(f.chunking_strategy.type == "static" and f.chunking_strategy.static.max_chunk_size_tokens == 400
               for f in files)
    got = client.vector_stores.retrieve(vs.id)
    deadline = time.monotonic() + 10
    while got.file_counts.in_progress and time.monotonic() < deadline:
        time.sleep(0.05)
        got = client.vector_stores.retrieve(vs.id)
    assert got.status == "completed" and got.file_counts.completed == 2
    assert got.usage_bytes == len(b"one") + len(b"two two")
    up = client.vector_stores.update(vs.id, name="kb2", metadata={"c": "d"}, expires_after=None)
    assert up.name == "kb2" and up.metadata == {"c": "d"}
    unnamed = client.vector_stores.create()
    assert unnamed.name == "" and unnamed.file_counts.total == 0 and unnamed.expires_after is None
    listed = [x.id for x in iterate(client.vector_stores.list(limit=1))]
    assert vs.id in listed and unnamed.id in listed and listed.index(unnamed.id) < listed.index(vs.id)
    d = client.vector_stores.delete(vs.id)
    assert (d.id, d.deleted, d.object) == (vs.id, True, "vector_store.deleted")
    with pytest.raises(openai.NotFoundError) as ei:
        client.vector_stores.retrieve(vs.id)
    assert_error(ei, 404)
    assert all_counts_add_up(seen) >= 3


def test_vector_store_files(client):
    vs = client.vector_stores.create(name="files")
    f = upload(client, b"attr file", "attr.txt")
    vf = client.vector_stores.files.create(vector_store_id=vs.id, file_id=f.id,
                                           attributes={"lang": "en", "year": 2024, "draft": False})
    assert (vf.id, vf.object, vf.vector_store_id) == (f.id, "vector_store.file", vs.id)
    assert vf.status in ("in_progress", "completed") and vf.last_error is None
    assert vf.attributes == {"lang": "en", "year": 2024, "draft": False}
    done = client.vector_stores.files.poll(f.id, vector_store_id=vs.id)
    assert done.status == "completed" and done.usage_bytes == len(b"attr file")
    got = client.vector_stores.files.retrieve(f.id, vector_store_id=vs.id)
    assert got.id == f.id
    up = client.vector_stores.files.update(f.id, vector_store_id=vs.id, attributes={"lang": "fr"})
    assert up.attributes == {"lang": "fr"}
    assert [x.id for x in client.vector_stores.files.list(vs.id, filter="completed")] == [f.id]
    assert client.vector_stores.files.list(vs.id, filter="failed").data == []
    page = client.vector_stores.files.content(f.id, vector_store_id=vs.id)
    assert all(c.type == "text" for c in page.data)
    assert "".join(c.text for c in page.data) == "attr file"
    d = client.vector_stores.files.delete(f.id, vector_store_id=vs.id)
    assert (d.id, d.deleted, d.object) == (f.id, True, "vector_store.file.deleted")
    assert client.vector_stores.files.list(vs.id).data == []
    assert client.files.retrieve(f.id).id == f.id  # removing it from the store keeps the file
    assert client.vector_stores.retrieve(vs.id).file_counts.total == 0


def test_files_create_and_poll_and_upload_and_poll(watched):
    client, seen = watched
    vs = client.vector_stores.create()
    f = upload(client, b"polled")
    vf = client.vector_stores.files.create_and_poll(file_id=f.id, vector_store_id=vs.id)
    assert vf.status == "completed"
    up = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("u.txt", b"uploaded bytes"),
                                                    attributes={"k": "v"}, max_wait_seconds=15)
    assert up.status == "completed" and up.attributes == {"k": "v"} and up.vector_store_id == vs.id
    assert client.files.retrieve(up.id).purpose == "assistants"
    vs_now = client.vector_stores.retrieve(vs.id)
    assert vs_now.file_counts.completed == 2 and vs_now.usage_bytes == len(b"polled") + len(b"uploaded bytes")
    all_counts_add_up(seen)


def test_file_batches(watched):
    client, seen = watched
    vs = client.vector_stores.create()
    a, b, c = upload(client, b"a"), upload(client, b"bb"), upload(client, b"ccc")
    batch = client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=[a.id, b.id])
    assert batch.id.startswith("vsfb_") and batch.object == "vector_store.files_batch"
    assert batch.vector_store_id == vs.id and batch.file_counts.total == 2
    counts_add_up(batch.file_counts)
    polled = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id)
    assert polled.status == "completed" and polled.file_counts.completed == 2 and polled.file_counts.in_progress == 0
    got = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id)
    assert got.id == batch.id
    listed = [x.id for x in iterate(client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id,
                                                                                 limit=1))]
    assert sorted(listed) == sorted([a.id, b.id])
    assert client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, filter="cancelled").data == []
    with_attrs = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id, files=[{"file_id": c.id, "attributes": {"n": 3}}])
    assert with_attrs.status == "completed" and with_attrs.file_counts.total == 1
    assert client.vector_stores.files.retrieve(c.id, vector_store_id=vs.id).attributes == {"n": 3}
    uploaded = client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[("x.txt", b"xx"), ("y.txt", b"yyy")], file_ids=[a.id])
    assert uploaded.status == "completed" and uploaded.file_counts.completed == 3
    assert len(client.vector_stores.file_batches.list_files(uploaded.id, vector_store_id=vs.id).data) == 3
    assert all_counts_add_up(seen) >= 5


def test_upload_and_create_batch_with_files(watched):
    client, seen = watched
    vs = client.vector_stores.create()
    vf = client.vector_stores.files.upload(vector_store_id=vs.id, file=("plain.txt", b"no polling"))
    assert vf.vector_store_id == vs.id and vf.status in ("in_progress", "completed")
    a, b = upload(client, b"1"), upload(client, b"22")
    batch = client.vector_stores.file_batches.create(
        vector_store_id=vs.id, files=[{"file_id": a.id, "attributes": {"i": 1}}, {"file_id": b.id}])
    assert batch.file_counts.total == 2
    done = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id)
    assert done.file_counts.completed == 2
    assert client.vector_stores.files.retrieve(a.id, vector_store_id=vs.id).attributes == {"i": 1}
    all_counts_add_up(seen)


def test_file_batch_cancel(ingest_watched):
    client, seen = ingest_watched
    vs = client.vector_stores.create()
    a, b = upload(client, b"a"), upload(client, b"b")
    batch = client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=[a.id, b.id])
    assert batch.status == "in_progress" and batch.file_counts.in_progress == 2
    assert client.vector_stores.retrieve(vs.id).status == "in_progress"
    c = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
    assert c.id == batch.id
    final = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id)
    assert final.status == "cancelled" and final.file_counts.cancelled == 2 and final.file_counts.in_progress == 0
    cancelled = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, filter="cancelled")
    assert sorted(x.id for x in cancelled) == sorted([a.id, b.id])
    assert all(x.status == "cancelled" for x in cancelled)
    all_counts_add_up(seen)


def test_search_shape(client):
    vs = client.vector_stores.create()
    client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("s.txt", b"the sky is blue"),
                                               attributes={"topic": "sky"})
    page = client.vector_stores.search(
        vs.id, query="what colour is the sky", max_num_results=5, rewrite_query=False,
        filters={"type": "and", "filters": [{"type": "eq", "key": "topic", "value": "sky"},
                                            {"type": "or", "filters": [{"type": "gte", "key": "year", "value": 1}]}]},
        ranking_options={"ranker": "auto", "score_threshold": 0.1})
    for r in page.data:
        assert r.filename and 0 <= r.score <= 1 and all(c.type == "text" for c in r.content)
    raw = client.vector_stores.with_raw_response.search(vs.id, query=["a", "b"]).http_response.json()
    assert raw["object"] == "vector_store.search_results.page"
    assert raw["search_query"] == ["a", "b"]
    with pytest.raises(openai.BadRequestError) as ei:
        client.vector_stores.search(vs.id, query="q", max_num_results=51)
    assert_error(ei, 400, param="max_num_results")


def test_bad_vector_store_input(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 0})
    assert_error(ei, 400, param_prefix="expires_after")
    with pytest.raises(openai.BadRequestError) as ei:
        client.vector_stores.create(chunking_strategy={"type": "static", "static": {
            "max_chunk_size_tokens": 100, "chunk_overlap_tokens": 80}})
    assert_error(ei, 400, param_prefix="chunking_strategy")
    vs = client.vector_stores.create()
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        client.vector_stores.files.create(vector_store_id=vs.id, file_id="file-doesnotexist0000000000")
    err = assert_error(ei, ei.value.status_code)
    assert ei.value.status_code == 404 or err["param"] == "file_id", err
    with pytest.raises(openai.BadRequestError) as ei:
        client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=[])
    assert_error(ei, 400, param_prefix="file_ids")


def test_tenancy(client, other_client):
    vs = client.vector_stores.create()
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.retrieve(vs.id)
    assert vs.id not in [x.id for x in other_client.vector_stores.list()]
