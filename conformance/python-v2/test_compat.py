"""One store, two views: objects written through v1 (raw httpx, `OpenAI-Beta: assistants=v1`, every
response validated against the v1 spec) are read through the v2 SDK (validated against the v2 spec),
and the reverse, following OpenAI's migration rules (retrieval <-> file_search, file_ids <->
tool_resources / attachments)."""

from helpers_v2 import MODEL, upload


def v1_ok(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_v1_assistant_with_retrieval_and_file_ids_reads_as_v2(client, raw_v1):
    f1, f2 = upload(client, b"one"), upload(client, b"two")
    a = v1_ok(raw_v1.post("/v1/assistants", json={
        "model": MODEL, "tools": [{"type": "retrieval"}, {"type": "code_interpreter"}], "file_ids": [f1.id, f2.id]}))
    assert a["file_ids"] == [f1.id, f2.id] and a["tools"][0] == {"type": "retrieval"}
    v2 = client.beta.assistants.retrieve(a["id"])
    assert [t.type for t in v2.tools] == ["file_search", "code_interpreter"]
    assert v2.tool_resources.code_interpreter.file_ids == [f1.id, f2.id]
    [vs_id] = v2.tool_resources.file_search.vector_store_ids
    assert sorted(x.id for x in client.vector_stores.files.list(vs_id)) == sorted([f1.id, f2.id])
    raw = client.beta.assistants.with_raw_response.retrieve(a["id"]).http_response.json()
    assert "file_ids" not in raw


def test_v2_assistant_with_file_search_reads_as_v1(client, raw_v1):
    f1, f2 = upload(client, b"ci"), upload(client, b"fs")
    vs = client.vector_stores.create(file_ids=[f2.id])
    a = client.beta.assistants.create(
        model=MODEL, tools=[{"type": "code_interpreter"}, {"type": "file_search", "file_search": {"max_num_results": 3}}],
        tool_resources={"code_interpreter": {"file_ids": [f1.id]}, "file_search": {"vector_store_ids": [vs.id]}})
    v1 = v1_ok(raw_v1.get(f"/v1/assistants/{a.id}"))
    assert v1["tools"] == [{"type": "code_interpreter"}, {"type": "retrieval"}]
    # v1's file_ids are the assistant's own files; a v2 store is not shown to v1, which has no
    # vector stores (docs/v2-mapping.md). Both v1 views agree.
    assert v1["file_ids"] == [f1.id]
    assert "tool_resources" not in v1
    listed = v1_ok(raw_v1.get(f"/v1/assistants/{a.id}/files"))
    assert [x["id"] for x in listed["data"]] == [f1.id]


def test_v1_message_file_ids_read_as_v2_attachments(client, raw_v1):
    f = upload(client, b"msg file")
    t = v1_ok(raw_v1.post("/v1/threads", json={}))
    m = v1_ok(raw_v1.post(f"/v1/threads/{t['id']}/messages", json={
        "role": "user", "content": "see file", "file_ids": [f.id]}))
    assert m["file_ids"] == [f.id]
    v2 = client.beta.threads.messages.retrieve(m["id"], thread_id=t["id"])
    assert [a.file_id for a in v2.attachments] == [f.id]
    assert sorted(x.type for x in v2.attachments[0].tools) == ["code_interpreter", "file_search"]
    thread = client.beta.threads.retrieve(t["id"])
    [vs_id] = thread.tool_resources.file_search.vector_store_ids  # v1 message files go into the thread's store
    assert f.id in [x.id for x in client.vector_stores.files.list(vs_id)]


def test_v2_message_attachments_read_as_v1_file_ids(client, raw_v1):
    f1, f2 = upload(client, b"a"), upload(client, b"b")
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(t.id, role="user", content=[{"type": "text", "text": "hi"}, {
        "type": "image_url", "image_url": {"url": "https://example.com/x.png"}}], attachments=[
        {"file_id": f1.id, "tools": [{"type": "code_interpreter"}]},
        {"file_id": f2.id, "tools": [{"type": "file_search"}]}])
    v1 = v1_ok(raw_v1.get(f"/v1/threads/{t.id}/messages/{m.id}"))
    assert v1["file_ids"] == [f1.id, f2.id]
    assert [c["type"] for c in v1["content"]] == ["text"]  # image_url is v2-only: left out of the v1 view
    files = v1_ok(raw_v1.get(f"/v1/threads/{t.id}/messages/{m.id}/files"))
    assert sorted(x["id"] for x in files["data"]) == sorted([f1.id, f2.id])


def test_v2_json_schema_format_reads_as_v1_json_object(client, raw_v1):
    a = client.beta.assistants.create(model=MODEL, response_format={"type": "json_schema", "json_schema": {
        "name": "n", "schema": {"type": "object"}}})
    v1 = v1_ok(raw_v1.get(f"/v1/assistants/{a.id}"))
    assert v1["response_format"] == {"type": "json_object"}  # lossy v1 view of json_schema
