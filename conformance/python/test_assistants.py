"""Operations 1-9: assistants and assistant files, through openai==1.20.0."""

import time

import openai
import pytest

from helpers import (MODEL, assert_error, assert_id, assert_recent, collect_all, expect_not_found, page_ids,
                     raw_json, unique, upload)

FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


# --- 2. createAssistant / 3. getAssistant ------------------------------------------------------

def test_create_assistant_echoes_every_field(client):
    name = unique("tutor")
    a = client.beta.assistants.create(
        model=MODEL, name=name, description="helps with maths", instructions="Be terse.",
        tools=[{"type": "code_interpreter"}, {"type": "retrieval"}, FUNCTION_TOOL],
        metadata={"team": "math", "tier": "1"},
    )
    assert_id(a.id, "asst")
    assert a.object == "assistant"
    assert_recent(a.created_at)
    assert a.model == MODEL
    assert a.name == name
    assert a.description == "helps with maths"
    assert a.instructions == "Be terse."
    assert [t.type for t in a.tools] == ["code_interpreter", "retrieval", "function"]
    fn = a.tools[2].function
    assert fn.name == "get_weather"
    assert fn.description == "Weather in a city"
    assert fn.parameters == FUNCTION_TOOL["function"]["parameters"]
    assert a.file_ids == []
    assert a.metadata == {"team": "math", "tier": "1"}

    got = client.beta.assistants.retrieve(a.id)
    assert got.model_dump() == a.model_dump()


def test_create_assistant_minimal_defaults(client, raw):
    a = client.beta.assistants.create(model="gpt-3.5-turbo")
    body = raw_json(client.beta.assistants.with_raw_response.retrieve(a.id))
    assert body["id"] == a.id
    assert body["model"] == "gpt-3.5-turbo"
    assert body["name"] is None
    assert body["description"] is None
    assert body["instructions"] is None
    assert body["tools"] == []
    assert body["file_ids"] == []
    assert body["metadata"] in ({}, None)


def test_create_assistant_accepts_any_model_string(client):
    a = client.beta.assistants.create(model="my-local-model:7b")
    assert a.model == "my-local-model:7b"


def test_create_assistant_with_file_ids(client):
    f1 = upload(client, b"one", "one.txt")
    f2 = upload(client, b"two", "two.txt")
    a = client.beta.assistants.create(model=MODEL, file_ids=[f1.id, f2.id], tools=[{"type": "retrieval"}])
    assert a.file_ids == [f1.id, f2.id]
    listed = client.beta.assistants.files.list(a.id, order="asc")
    assert page_ids(listed) == [f1.id, f2.id]


def test_retrieve_unknown_assistant_is_404(client):
    err = expect_not_found(client.beta.assistants.retrieve, "asst_doesnotexist000000000000")
    assert "asst_doesnotexist000000000000" in err["message"]


# --- 4. modifyAssistant ------------------------------------------------------------------------

def test_update_assistant_changes_only_given_fields(client):
    a = client.beta.assistants.create(model=MODEL, name="before", description="d", instructions="i",
                                      tools=[{"type": "code_interpreter"}], metadata={"k": "v"})
    u = client.beta.assistants.update(a.id, name="after", metadata={"k2": "v2"})
    assert u.id == a.id
    assert u.created_at == a.created_at
    assert u.name == "after"
    assert u.metadata == {"k2": "v2"}
    assert u.description == "d"
    assert u.instructions == "i"
    assert u.model == MODEL
    assert [t.type for t in u.tools] == ["code_interpreter"]

    u2 = client.beta.assistants.update(a.id, model="gpt-4", tools=[FUNCTION_TOOL], instructions="new",
                                       description=None)
    assert u2.model == "gpt-4"
    assert [t.type for t in u2.tools] == ["function"]
    assert u2.instructions == "new"
    assert u2.description is None
    assert u2.name == "after"

    again = client.beta.assistants.retrieve(a.id)
    assert again.model_dump() == u2.model_dump()


def test_update_assistant_file_ids_replaces_attachments(client):
    f1, f2, f3 = (upload(client, b"x%d" % i, f"f{i}.txt") for i in range(3))
    a = client.beta.assistants.create(model=MODEL, file_ids=[f1.id, f2.id])
    u = client.beta.assistants.update(a.id, file_ids=[f2.id, f3.id])
    assert sorted(u.file_ids) == sorted([f2.id, f3.id])
    attached = collect_all(client.beta.assistants.files.list(a.id))
    assert sorted(attached) == sorted([f2.id, f3.id])
    expect_not_found(client.beta.assistants.files.retrieve, f1.id, assistant_id=a.id)
    # The file itself is not deleted by detaching it.
    assert client.files.retrieve(f1.id).id == f1.id


def test_update_unknown_assistant_is_404(client):
    expect_not_found(client.beta.assistants.update, "asst_doesnotexist000000000000", name="x")


# --- 5. deleteAssistant -----------------------------------------------------------------------

def test_delete_assistant(client):
    a = client.beta.assistants.create(model=MODEL)
    d = client.beta.assistants.delete(a.id)
    assert d.id == a.id
    assert d.object == "assistant.deleted"
    assert d.deleted is True
    expect_not_found(client.beta.assistants.retrieve, a.id)
    expect_not_found(client.beta.assistants.delete, a.id)
    assert a.id not in collect_all(client.beta.assistants.list(limit=100))


def test_delete_assistant_leaves_threads_and_runs(client):
    a = client.beta.assistants.create(model=MODEL, instructions="x")
    run = client.beta.threads.create_and_run(assistant_id=a.id,
                                             thread={"messages": [{"role": "user", "content": "hi"}]})
    client.beta.assistants.delete(a.id)
    t = client.beta.threads.retrieve(run.thread_id)
    assert t.id == run.thread_id
    msgs = client.beta.threads.messages.list(run.thread_id)
    assert [m.content[0].text.value for m in msgs.data] == ["hi"]
    r = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert r.id == run.id
    assert r.assistant_id == a.id


# --- 1. listAssistants ------------------------------------------------------------------------

def test_list_assistants_auto_pagination_25_with_limit_10(fresh_client):
    c = fresh_client
    created = [c.beta.assistants.create(model=MODEL, name=f"a{i:02d}").id for i in range(25)]

    first = c.beta.assistants.list(limit=10)
    assert len(first.data) == 10

    seen = []
    for a in c.beta.assistants.list(limit=10):
        seen.append(a.id)
        assert len(seen) <= 100, "auto-pagination does not end (is `after` honoured?)"
    assert len(seen) == 25, f"auto-pagination returned {len(seen)} objects"
    assert len(set(seen)) == 25, "auto-pagination returned duplicates"
    assert seen == list(reversed(created)), "default order is desc (newest first)"

    assert collect_all(c.beta.assistants.list(limit=10, order="asc")) == created


def test_list_assistants_envelope_and_cursors(fresh_client):
    c = fresh_client
    empty = raw_json(c.beta.assistants.with_raw_response.list())
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}

    ids = [c.beta.assistants.create(model=MODEL, name=f"n{i}").id for i in range(5)]

    body = raw_json(c.beta.assistants.with_raw_response.list(limit=2, order="asc"))
    assert body["object"] == "list"
    assert [x["id"] for x in body["data"]] == ids[:2]
    assert body["first_id"] == ids[0]
    assert body["last_id"] == ids[1]
    assert body["has_more"] is True

    body = raw_json(c.beta.assistants.with_raw_response.list(limit=2, order="asc", after=ids[3]))
    assert [x["id"] for x in body["data"]] == [ids[4]]
    assert body["has_more"] is False

    # after the last id: an empty page (what ends the SDK's auto-pagination)
    body = raw_json(c.beta.assistants.with_raw_response.list(order="asc", after=ids[4]))
    assert body["data"] == [] and body["first_id"] is None and body["last_id"] is None and body["has_more"] is False
    body = raw_json(c.beta.assistants.with_raw_response.list(order="desc", after=ids[0]))
    assert body["data"] == [] and body["has_more"] is False

    # desc with after / before
    assert page_ids(c.beta.assistants.list(order="desc", after=ids[3])) == [ids[2], ids[1], ids[0]]
    assert page_ids(c.beta.assistants.list(order="desc", before=ids[1])) == [ids[4], ids[3], ids[2]]
    assert page_ids(c.beta.assistants.list(order="asc", before=ids[3])) == [ids[0], ids[1], ids[2]]
    # before + limit returns the objects nearest the cursor, still in the requested order
    body = raw_json(c.beta.assistants.with_raw_response.list(order="asc", before=ids[4], limit=2))
    assert [x["id"] for x in body["data"]] == [ids[2], ids[3]]
    assert body["has_more"] is True
    body = raw_json(c.beta.assistants.with_raw_response.list(order="desc", before=ids[0], limit=2))
    assert [x["id"] for x in body["data"]] == [ids[2], ids[1]]
    assert body["has_more"] is True
    # default limit is 20 and default order desc
    assert page_ids(c.beta.assistants.list()) == list(reversed(ids))


def test_list_assistants_sorted_by_created_at(fresh_client):
    c = fresh_client
    a1 = c.beta.assistants.create(model=MODEL)
    time.sleep(1.1)
    a2 = c.beta.assistants.create(model=MODEL)
    assert a2.created_at > a1.created_at
    desc = c.beta.assistants.list(order="desc").data
    assert [a.id for a in desc] == [a2.id, a1.id]
    assert [a.created_at for a in desc] == sorted([a.created_at for a in desc], reverse=True)


def test_list_assistants_default_limit_is_20(fresh_client):
    c = fresh_client
    for i in range(21):
        c.beta.assistants.create(model=MODEL)
    body = raw_json(c.beta.assistants.with_raw_response.list())
    assert len(body["data"]) == 20
    assert body["has_more"] is True
    assert len(c.beta.assistants.list(limit=100).data) == 21
    assert len(c.beta.assistants.list(limit=1).data) == 1


@pytest.mark.parametrize("params, param", [
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"order": "sideways"}, "order"),
])
def test_list_assistants_invalid_params_are_400(client, params, param):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.list(**params)
    assert_error(ei, 400, param=param)


# --- 6-9. assistant files ---------------------------------------------------------------------

def test_assistant_files_attach_list_retrieve_delete(client):
    a = client.beta.assistants.create(model=MODEL, tools=[{"type": "retrieval"}])
    f1 = upload(client, b"alpha", "alpha.txt")
    f2 = upload(client, b"beta", "beta.txt")

    af1 = client.beta.assistants.files.create(a.id, file_id=f1.id)
    assert af1.id == f1.id
    assert af1.object == "assistant.file"
    assert af1.assistant_id == a.id
    assert_recent(af1.created_at)
    af2 = client.beta.assistants.files.create(a.id, file_id=f2.id)
    assert af2.id == f2.id

    assert client.beta.assistants.retrieve(a.id).file_ids == [f1.id, f2.id]

    got = client.beta.assistants.files.retrieve(f1.id, assistant_id=a.id)
    assert got.model_dump() == af1.model_dump()

    assert page_ids(client.beta.assistants.files.list(a.id, order="asc")) == [f1.id, f2.id]
    assert page_ids(client.beta.assistants.files.list(a.id, order="desc")) == [f2.id, f1.id]
    assert page_ids(client.beta.assistants.files.list(a.id)) == [f2.id, f1.id]
    assert page_ids(client.beta.assistants.files.list(a.id, order="asc", after=f1.id)) == [f2.id]
    assert page_ids(client.beta.assistants.files.list(a.id, order="asc", before=f2.id)) == [f1.id]
    body = raw_json(client.beta.assistants.files.with_raw_response.list(a.id, limit=1, order="asc"))
    assert [x["id"] for x in body["data"]] == [f1.id]
    assert body["first_id"] == f1.id and body["last_id"] == f1.id and body["has_more"] is True
    assert collect_all(client.beta.assistants.files.list(a.id, limit=1)) == [f2.id, f1.id]

    d = client.beta.assistants.files.delete(f1.id, assistant_id=a.id)
    assert d.id == f1.id
    assert d.object == "assistant.file.deleted"
    assert d.deleted is True
    assert client.beta.assistants.retrieve(a.id).file_ids == [f2.id]
    assert page_ids(client.beta.assistants.files.list(a.id)) == [f2.id]
    expect_not_found(client.beta.assistants.files.retrieve, f1.id, assistant_id=a.id)
    expect_not_found(client.beta.assistants.files.delete, f1.id, assistant_id=a.id)
    # detaching does not delete the file
    assert client.files.retrieve(f1.id).id == f1.id


def test_assistant_files_empty_list(client):
    a = client.beta.assistants.create(model=MODEL)
    body = raw_json(client.beta.assistants.files.with_raw_response.list(a.id))
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_assistant_files_unknown_assistant_is_404(client):
    f = upload(client)
    missing = "asst_doesnotexist000000000000"
    expect_not_found(client.beta.assistants.files.create, missing, file_id=f.id)
    expect_not_found(client.beta.assistants.files.list, missing)
    expect_not_found(client.beta.assistants.files.retrieve, f.id, assistant_id=missing)
    expect_not_found(client.beta.assistants.files.delete, f.id, assistant_id=missing)


def test_attach_unknown_file_is_an_error(client):
    a = client.beta.assistants.create(model=MODEL)
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        client.beta.assistants.files.create(a.id, file_id="file-doesnotexist0000000000")
    err = assert_error(ei, ei.value.status_code)
    if ei.value.status_code == 400:
        assert err["param"] == "file_id", err
    assert client.beta.assistants.retrieve(a.id).file_ids == []


def test_create_assistant_with_unknown_file_id_is_an_error(client):
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as ei:
        client.beta.assistants.create(model=MODEL, file_ids=["file-doesnotexist0000000000"])
    err = assert_error(ei, ei.value.status_code)
    if ei.value.status_code == 400:
        assert isinstance(err["param"], str) and err["param"].startswith("file_ids"), err


def test_deleting_file_detaches_it_from_assistant(client):
    f1 = upload(client, b"keep", "keep.txt")
    f2 = upload(client, b"drop", "drop.txt")
    a = client.beta.assistants.create(model=MODEL, file_ids=[f1.id, f2.id])
    assert client.files.delete(f2.id).deleted is True
    assert client.beta.assistants.retrieve(a.id).file_ids == [f1.id]
    assert page_ids(client.beta.assistants.files.list(a.id)) == [f1.id]
    expect_not_found(client.beta.assistants.files.retrieve, f2.id, assistant_id=a.id)


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, param", [
    ({"name": "x" * 257}, "name"),
    ({"description": "x" * 513}, "description"),
    ({"instructions": "x" * 256001}, "instructions"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k" * 65: "v"}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"tools": [{"type": "code_interpreter"}] * 129}, "tools"),
    ({"file_ids": [f"file-{i:024d}" for i in range(21)]}, "file_ids"),
    ({"extra_body": {"temperature": 3}}, "temperature"),
    ({"extra_body": {"top_p": 1.5}}, "top_p"),
])
def test_create_assistant_limits_are_400(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, **kwargs)
    # `param` names the field; for an entry of metadata it may name the key too ("metadata.k").
    assert_error(ei, 400, param_prefix=param)


def test_create_assistant_limits_at_the_boundary_pass(client):
    a = client.beta.assistants.create(model=MODEL, name="x" * 256, description="d" * 512,
                                      metadata={f"k{i:02d}" + "k" * 61: "v" * 512 for i in range(16)})
    assert len(a.name) == 256
    assert len(a.metadata) == 16


@pytest.mark.parametrize("tools, prefix", [
    ([{"type": "browser"}], "tools"),
    ([{"type": "retreival"}], "tools"),
    ([{"type": "function"}], "tools"),
    ([{"type": "function", "function": {"name": "has space"}}], "tools"),
    ([{"type": "function", "function": {"name": "f" * 65}}], "tools"),
])
def test_create_assistant_invalid_tools_are_400(client, tools, prefix):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, tools=tools)
    assert_error(ei, 400, param_prefix=prefix)


def test_create_assistant_without_model_is_400(raw):
    r = raw.post("/v1/assistants", json={"name": "no model"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "model", err
    assert err["type"] == "invalid_request_error"


def test_create_assistant_unknown_field_is_400(client):
    # CreateAssistantRequest has additionalProperties: false
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, extra_body={"colour": "blue"})
    assert_error(ei, 400)


def test_update_assistant_limits_are_400(client):
    a = client.beta.assistants.create(model=MODEL, name="ok")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.update(a.id, name="x" * 257)
    assert_error(ei, 400, param="name")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.update(a.id, metadata={f"k{i}": "v" for i in range(17)})
    assert_error(ei, 400, param_prefix="metadata")
    assert client.beta.assistants.retrieve(a.id).name == "ok"
