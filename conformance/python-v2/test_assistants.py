"""client.beta.assistants (openai 3.63.0): create with every v2 field, retrieve, update, list, delete."""

import openai
import pytest

from helpers_v2 import FUNCTION, JSON_SCHEMA_FORMAT, MODEL, assert_error, assert_id, assert_recent, iterate, upload


def test_create_with_v2_tools_resources_and_formats(client):
    vs = client.vector_stores.create(name="kb")
    a = client.beta.assistants.create(
        model=MODEL,
        name="Helper",
        description="v2 fields",
        instructions="Be brief.",
        tools=[
            {"type": "file_search", "file_search": {"max_num_results": 7,
                                                    "ranking_options": {"ranker": "auto", "score_threshold": 0.5}}},
            {"type": "code_interpreter"},
            {"type": "function", "function": FUNCTION},
        ],
        tool_resources={"file_search": {"vector_store_ids": [vs.id]}, "code_interpreter": {"file_ids": []}},
        response_format=JSON_SCHEMA_FORMAT,
        reasoning_effort="low",
        temperature=0.5,
        top_p=0.9,
        metadata={"k": "v"},
    )
    assert_id(a.id, "asst")
    assert_recent(a.created_at)
    assert a.object == "assistant"
    assert [t.type for t in a.tools] == ["file_search", "code_interpreter", "function"]
    assert a.tools[0].file_search.max_num_results == 7
    assert a.tools[0].file_search.ranking_options.score_threshold == 0.5
    assert a.tools[2].function.strict is True
    assert a.tool_resources.file_search.vector_store_ids == [vs.id]
    assert a.response_format.type == "json_schema"
    assert a.response_format.json_schema.name == "answer"
    assert a.response_format.json_schema.strict is True
    assert (a.temperature, a.top_p, a.metadata) == (0.5, 0.9, {"k": "v"})
    # reasoning_effort is write-only: accepted, not part of the object
    raw = client.beta.assistants.with_raw_response.retrieve(a.id).http_response.json()
    assert "reasoning_effort" not in raw and "file_ids" not in raw
    assert raw["tools"][0]["type"] == "file_search"


def test_tool_resources_vector_stores_helper_creates_a_store(client):
    f = upload(client, b"facts about cats", "cats.txt")
    a = client.beta.assistants.create(
        model=MODEL, tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [f.id], "metadata": {"m": "1"}}]}})
    ids = a.tool_resources.file_search.vector_store_ids
    assert len(ids) == 1 and ids[0].startswith("vs_"), a.tool_resources
    vs = client.vector_stores.retrieve(ids[0])
    assert vs.file_counts.total == 1
    assert [x.id for x in client.vector_stores.files.list(vs.id)] == [f.id]


def test_retrieve_update_list_delete(client):
    a = client.beta.assistants.create(model=MODEL, name="one")
    got = client.beta.assistants.retrieve(a.id)
    assert got.id == a.id and got.name == "one" and got.tools == []
    vs = client.vector_stores.create()
    up = client.beta.assistants.update(
        a.id, name="two", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [vs.id]}},
        response_format={"type": "json_object"}, reasoning_effort="medium")
    assert up.name == "two" and up.tools[0].type == "file_search"
    assert up.tool_resources.file_search.vector_store_ids == [vs.id]
    assert up.response_format.type == "json_object"
    created = [client.beta.assistants.create(model=MODEL, name=f"p{i}").id for i in range(3)]
    listed = [x.id for x in iterate(client.beta.assistants.list(limit=2, order="asc"))]
    assert all(i in listed for i in created + [a.id])
    assert listed.index(created[0]) < listed.index(created[2])
    d = client.beta.assistants.delete(a.id)
    assert (d.id, d.deleted, d.object) == (a.id, True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError) as ei:
        client.beta.assistants.retrieve(a.id)
    assert_error(ei, 404)


def test_bad_v2_input_names_the_param(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, tool_resources={"file_search": {"vector_store_ids": ["a", "b"]}})
    assert_error(ei, 400, param_prefix="tool_resources")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, reasoning_effort="enormous")
    assert_error(ei, 400, param="reasoning_effort")
    with pytest.raises(openai.BadRequestError) as ei:
        client.beta.assistants.create(model=MODEL, tools=[{"type": "retrieval"}])
    assert_error(ei, 400, param_prefix="tools")
