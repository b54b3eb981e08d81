"""Error shapes, authentication, the OpenAI-Beta header, and isolation between the two projects."""

import httpx
import openai
import pytest

from conftest import KEY_A, _validation_hook, make_client
from helpers import MODEL, assert_error, collect_all, expect_not_found, iterate, upload


# --- authentication ---------------------------------------------------------------------------

def test_wrong_api_key_is_401(base_url):
    c = make_client(base_url, "sk-wrong")
    try:
        with pytest.raises(openai.AuthenticationError) as ei:
            c.beta.assistants.list()
        err = assert_error(ei, 401, type_=None)
        assert isinstance(err["type"], str) and err["type"]
        with pytest.raises(openai.AuthenticationError):
            c.files.list()
        with pytest.raises(openai.AuthenticationError):
            c.beta.threads.create()
    finally:
        c.close()


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic c2stdGVzdC1hOg=="},
    {"Authorization": f"Bearer {KEY_A}x"},
])
def test_missing_or_malformed_auth_is_401(server, headers):
    with httpx.Client(base_url=server.root_url, timeout=10, event_hooks={"response": [_validation_hook]}) as c:
        r = c.get("/v1/assistants", headers={"OpenAI-Beta": "assistants=v1", **headers})
    assert r.status_code == 401, r.text
    body = r.json()
    assert set(body["error"]) >= {"message", "type", "param", "code"}


# --- the OpenAI-Beta header -------------------------------------------------------------------

def test_unknown_assistants_version_is_400(client):
    # v1 and v2 are served (v2 has its own suite, conformance/python-v2); anything else is refused.
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.list(extra_headers={"OpenAI-Beta": "assistants=v3"})
    assert_error(ei, 400)
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, name="v3", extra_headers={"OpenAI-Beta": "assistants=v3"})
    assert_error(ei, 400)
    assert "v3" not in [a.name for a in iterate(client.beta.assistants.list(limit=100))]


def test_sdk_sends_v1_header_and_it_is_accepted(client):
    raw = client.beta.assistants.with_raw_response.list()
    assert raw.http_request.headers["OpenAI-Beta"] == "assistants=v1"
    assert raw.status_code == 200


# --- error shapes -------------------------------------------------------------------------------

def test_malformed_json_body_is_400_json(raw):
    r = raw.post("/v1/assistants", content=b'{"model": "gpt-4",', headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"


def test_wrong_json_type_is_400(raw):
    r = raw.post("/v1/assistants", json={"model": MODEL, "name": 5})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "name"
    # A JSON array is not a CreateAssistantRequest object (even if its items line up with the fields).
    r = raw.post("/v1/assistants", json=["not", "an", "object"])
    assert r.status_code == 400, r.text
    r = raw.post("/v1/assistants", json="gpt-4")
    assert r.status_code == 400, r.text


def test_unknown_route_is_404_json(raw):
    r = raw.get("/v1/nonexistent-endpoint")
    assert r.status_code == 404, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/threads"),                       # no listThreads in v1
    ("DELETE", "/v1/threads/thread_x/messages/msg_x"),  # no deleteMessage in v1
    ("PUT", "/v1/assistants"),
])
def test_operations_absent_from_v1_are_json_errors(raw, method, path):
    r = raw.request(method, path)
    assert r.status_code in (404, 405), r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}


def test_not_found_error_shape(client):
    err = expect_not_found(client.beta.assistants.retrieve, "asst_missing000000000000000")
    assert err["type"] == "invalid_request_error"
    assert "asst_missing000000000000000" in err["message"]


# --- isolation between projects ----------------------------------------------------------------

def test_other_project_cannot_see_objects(client, other_client):
    f = upload(client, b"private", "private.txt")
    a = client.beta.assistants.create(model=MODEL, name="private", file_ids=[f.id])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "secret"}])
    m = client.beta.threads.messages.list(t.id).data[0]
    m2 = client.beta.threads.messages.create(t.id, role="user", content="with file", file_ids=[f.id])
    run = client.beta.threads.runs.create(t.id, assistant_id=a.id)

    o = other_client
    expect_not_found(o.beta.assistants.retrieve, a.id)
    expect_not_found(o.beta.assistants.update, a.id, name="hijack")
    expect_not_found(o.beta.assistants.delete, a.id)
    expect_not_found(o.beta.assistants.files.list, a.id)
    expect_not_found(o.beta.assistants.files.retrieve, f.id, assistant_id=a.id)
    expect_not_found(o.beta.threads.retrieve, t.id)
    expect_not_found(o.beta.threads.update, t.id, metadata={"x": "y"})
    expect_not_found(o.beta.threads.delete, t.id)
    expect_not_found(o.beta.threads.messages.list, t.id)
    expect_not_found(o.beta.threads.messages.retrieve, m.id, thread_id=t.id)
    expect_not_found(o.beta.threads.messages.create, t.id, role="user", content="intrude")
    expect_not_found(o.beta.threads.messages.files.list, m2.id, thread_id=t.id)
    expect_not_found(o.beta.threads.messages.files.retrieve, f.id, thread_id=t.id, message_id=m2.id)
    expect_not_found(o.beta.threads.runs.list, t.id)
    expect_not_found(o.beta.threads.runs.retrieve, run.id, thread_id=t.id)
    expect_not_found(o.beta.threads.runs.cancel, run.id, thread_id=t.id)
    expect_not_found(o.beta.threads.runs.steps.list, run.id, thread_id=t.id)
    expect_not_found(o.files.retrieve, f.id)
    expect_not_found(o.files.content, f.id)
    expect_not_found(o.files.delete, f.id)

    assert a.id not in collect_all(o.beta.assistants.list(limit=100))
    assert f.id not in [x.id for x in o.files.list()]

    # Project A's objects are intact.
    assert client.beta.assistants.retrieve(a.id).name == "private"
    assert client.beta.threads.retrieve(t.id).id == t.id
    assert client.files.content(f.id).read() == b"private"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=t.id).status == "queued"


def test_other_project_cannot_reference_objects_in_bodies(client, other_client):
    f = upload(client, b"a's file", "a.txt")
    a = client.beta.assistants.create(model=MODEL)
    o = other_client
    mine = o.beta.assistants.create(model=MODEL)
    my_thread = o.beta.threads.create()

    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        o.beta.assistants.create(model=MODEL, file_ids=[f.id])
    assert_error(ei, ei.value.status_code)
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        o.beta.assistants.files.create(mine.id, file_id=f.id)
    assert_error(ei, ei.value.status_code)
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        o.beta.threads.messages.create(my_thread.id, role="user", content="x", file_ids=[f.id])
    assert_error(ei, ei.value.status_code)
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        o.beta.threads.runs.create(my_thread.id, assistant_id=a.id)
    assert_error(ei, ei.value.status_code)
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        o.beta.threads.create_and_run(assistant_id=a.id)
    assert_error(ei, ei.value.status_code)

    assert o.beta.assistants.retrieve(mine.id).file_ids == []
    assert o.beta.threads.messages.list(my_thread.id).data == []
    assert o.beta.threads.runs.list(my_thread.id).data == []


def test_projects_have_separate_lists(client, other_client):
    a = client.beta.assistants.create(model=MODEL, name="in-a")
    b = other_client.beta.assistants.create(model=MODEL, name="in-b")
    ids_a = collect_all(client.beta.assistants.list(limit=100))
    ids_b = collect_all(other_client.beta.assistants.list(limit=100))
    assert a.id in ids_a and a.id not in ids_b
    assert b.id in ids_b and b.id not in ids_a
    assert not set(ids_a) & set(ids_b)
