"""Version errors: a v1-only field under v2 and a v2-only field under v1 are 400s naming the field;
an unknown `assistants=` version is 400 unsupported_api_version; v1-only operations are 404 under v2."""

import openai
import pytest

from helpers_v2 import MODEL, assert_error, upload


def error_of(resp, status):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    return err


def test_file_ids_on_create_assistant_under_v2(client):
    f = upload(client)
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, extra_body={"file_ids": [f.id]})
    assert_error(ei, 400, param="file_ids")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, tools=[{"type": "retrieval"}])
    assert_error(ei, 400, param_prefix="tools")


def test_file_ids_on_create_message_under_v2(client):
    f = upload(client)
    t = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.threads.messages.create(t.id, role="user", content="x", extra_body={"file_ids": [f.id]})
    assert_error(ei, 400, param="file_ids")


def test_v2_fields_under_v1(raw_v1, client):
    vs = client.vector_stores.create()
    err = error_of(raw_v1.post("/v1/assistants", json={
        "model": MODEL, "tool_resources": {"file_search": {"vector_store_ids": [vs.id]}}}), 400)
    assert err["param"] == "tool_resources", err
    err = error_of(raw_v1.post("/v1/assistants", json={"model": MODEL, "tools": [{"type": "file_search"}]}), 400)
    assert err["param"].startswith("tools"), err
    t = raw_v1.post("/v1/threads", json={}).json()
    f = upload(client)
    err = error_of(raw_v1.post(f"/v1/threads/{t['id']}/messages", json={
        "role": "user", "content": "x", "attachments": [{"file_id": f.id, "tools": [{"type": "file_search"}]}]}), 400)
    assert err["param"] == "attachments", err


@pytest.mark.parametrize("beta", ["assistants=v3", "assistants=v1,assistants=v2"])
def test_unsupported_api_version(raw_with, beta):
    err = error_of(raw_with(beta).get("/v1/assistants"), 400)
    assert err["code"] == "unsupported_api_version", err
    assert err["type"] == "invalid_request_error", err


def test_v1_only_operations_are_404_under_v2(raw_v2, client):
    a = client.beta.assistants.create(model=MODEL)
    err = error_of(raw_v2.get(f"/v1/assistants/{a.id}/files"), 404)
    assert f"/v1/assistants/{a.id}/files" in err["message"], err
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    m = client.beta.threads.messages.list(t.id).data[0]
    error_of(raw_v2.get(f"/v1/threads/{t.id}/messages/{m.id}/files"), 404)


def test_no_header_stays_v1(raw_with, client):
    a = client.beta.assistants.create(model=MODEL, tools=[{"type": "file_search"}])
    body = raw_with(None).get(f"/v1/assistants/{a.id}").json()
    assert body["tools"] == [{"type": "retrieval"}] and "file_ids" in body and "tool_resources" not in body
