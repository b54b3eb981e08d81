"""Validate assistd's JSON responses and SSE events against the Assistants v2 OpenAPI spec.

The spec (``openapi-assistants-v2.yaml``) is OpenAI's whole API as OpenAPI 3.1; only the operations
under ``/assistants``, ``/threads``, ``/vector_stores`` and ``/files`` are used. Their response and
request-body schemas (and everything they reference), plus ``AssistantStreamEvent`` and
``ErrorResponse``, are converted to JSON Schema draft 2020-12.

Conversion rules:
  * ``$ref: '#/components/schemas/X'`` -> ``#/$defs/X``.
  * ``nullable: true`` is honoured although a 3.1 document should not use it (the 3.0 meaning:
    ``null`` is allowed). An ``allOf`` member that is only ``{nullable: true}`` (RunObject's
    ``truncation_strategy`` and ``tool_choice``) makes the whole ``allOf`` nullable.
  * ``x-*`` keys and annotations (description, example, title, deprecated, default, ...) are dropped.
  * ``type: integer`` means a JSON integer: ``1.0`` is rejected.

Known flaws of the v2 spec (plan section 1.4, spec README), corrected explicitly; each correction
first asserts that the spec still has the flaw, so a fixed spec fails loudly here:
  1. List responses: ``first_id`` / ``last_id`` are ``null`` on an empty page.
  2. ``OpenAIFile.status_details`` and ``OpenAIFile.expires_at`` may be ``null``.
  3. ``VectorStoreObject.expires_after`` is ``null`` when no policy is set.
  4. (no schema change) the 3.1 document still writes ``nullable: true``: asserted, then honoured.
  5. ``CreateMessageRequest.attachments``: ``required: [file_id, tools]`` sits on the array, not on
     its items: moved to the items as ``required: [file_id]`` (``tools`` defaults to ``[]``).
  6. ``CompoundFilter`` recurses with ``$recursiveRef: '#'``: rewritten to ``$ref: CompoundFilter``.
  7. (no schema change) ``VectorStoreObject.name`` is a required non-null string: asserted and kept
     strict (an unnamed store must show ``""``).
Nothing else is relaxed.

Public API:
  validate_response(method, path, status, body)   raises SpecValidationError
  validate_event(event_name, data)                one SSE event (data parsed JSON, or "[DONE]")
  validate_sse(method, path, text) -> [names]     a whole text/event-stream body
  validate_request(method, path, body)            a JSON request body
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import jsonschema
from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve()
REPO_ROOT = HERE.parents[2]
DEFAULT_SPEC_DIR = REPO_ROOT.parent / "shared" / "spec"
SPEC_FILE = "openapi-assistants-v2.yaml"
PATH_RE = re.compile(r"^/(assistants|threads|vector_stores|files)(/|$)")

RAW_BODY_TEMPLATES = {("get", "/files/{file_id}/content")}

CURSOR_LIST_SCHEMAS = (
    "ListAssistantsResponse",
    "ListFilesResponse",
    "ListMessagesResponse",
    "ListRunStepsResponse",
    "ListRunsResponse",
    "ListVectorStoresResponse",
    "ListVectorStoreFilesResponse",
)

_ANNOTATIONS = {"description", "example", "examples", "title", "deprecated", "default", "externalDocs",
                "readOnly", "writeOnly", "xml", "discriminator", "$recursiveAnchor"}
_REF_PREFIX = "#/components/schemas/"


class SpecValidationError(AssertionError):
    """A body that does not conform to the v2 spec."""


def spec_dir() -> Path:
    env = os.environ.get("ASSISTD_SPEC_DIR")
    return Path(env).resolve() if env else DEFAULT_SPEC_DIR


def _load_yaml_spec(directory: Path) -> Dict[str, Any]:
    loader_path = directory / "load_spec.py"
    if not loader_path.is_file():
        raise FileNotFoundError(f"spec loader not found at {loader_path}; set ASSISTD_SPEC_DIR")
    spec = importlib.util.spec_from_file_location("assistd_load_spec_v2", loader_path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.load(str(directory / SPEC_FILE))


# --------------------------------------------------------------------------------------------
# OpenAPI 3.1 -> JSON Schema 2020-12
# --------------------------------------------------------------------------------------------

def _only_nullable(node: Any) -> bool:
    return isinstance(node, dict) and node.get("nullable") is True and all(
        k == "nullable" or k in _ANNOTATIONS or k.startswith("x-") for k in node)


def convert_schema(node: Any) -> Any:
    """Convert one OpenAPI 3.1 schema (recursively) into JSON Schema 2020-12."""
    if isinstance(node, list):
        return [convert_schema(x) for x in node]
    if not isinstance(node, dict):
        return node

    out: Dict[str, Any] = {}
    nullable = node.get("nullable") is True
    for key, value in node.items():
        if key.startswith("x-") or key in _ANNOTATIONS or key == "nullable":
            continue
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith(_REF_PREFIX):
                raise ValueError(f"unsupported $ref {value!r}")
            out["$ref"] = "#/$defs/" + value[len(_REF_PREFIX):]
        elif key == "$recursiveRef":
            raise ValueError("$recursiveRef left in the spec (see correction 6)")
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties", "propertyNames", "contains"):
            out[key] = convert_schema(value) if isinstance(value, (dict, list)) else value
        elif key == "allOf":
            members = [m for m in value if not _only_nullable(m)]
            if len(members) != len(value):
                nullable = True
            out["allOf"] = [convert_schema(m) for m in members]
        elif key in ("oneOf", "anyOf", "prefixItems"):
            out[key] = [convert_schema(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)

    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(excl), bool):
            if out.pop(excl) and bound in out:
                out[excl] = out.pop(bound)

    if not nullable:
        return out
    if "$ref" in out or any(k in out for k in ("oneOf", "anyOf", "allOf")) or "type" not in out:
        return {"anyOf": [out, {"type": "null"}]}
    typ = out["type"]
    out["type"] = (list(typ) if isinstance(typ, list) else [typ]) + ["null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = list(out["enum"]) + [None]
    return out


def _is_nullable(schema: Dict[str, Any]) -> bool:
    if schema.get("nullable") is True:
        return True
    typ = schema.get("type")
    if typ == "null" or (isinstance(typ, list) and "null" in typ):
        return True
    return any(isinstance(s, dict) and s.get("type") == "null" for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _make_nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def apply_known_corrections(schemas: Dict[str, Any]) -> List[str]:
    """Apply exactly the corrections listed in the module docstring (mutates `schemas`)."""
    applied: List[str] = []

    # 1. first_id / last_id are null on an empty page.
    for name in CURSOR_LIST_SCHEMAS:
        props = schemas[name]["properties"]
        for field in ("first_id", "last_id"):
            if field not in props or field not in schemas[name].get("required", []):
                raise ValueError(f"spec changed: {name}.{field} is no longer a required property")
            if _is_nullable(props[field]):
                raise ValueError(f"spec changed: {name}.{field} is nullable now; drop correction 1")
            props[field] = _make_nullable(props[field])
            applied.append(f"{name}.{field} nullable")

    # 2. OpenAIFile.status_details / expires_at may be null.
    props = schemas["OpenAIFile"]["properties"]
    for field in ("status_details", "expires_at"):
        if field not in props or _is_nullable(props[field]):
            raise ValueError(f"spec changed: OpenAIFile.{field} is gone or nullable; drop correction 2")
        props[field] = _make_nullable(props[field])
        applied.append(f"OpenAIFile.{field} nullable")

    # 3. VectorStoreObject.expires_after is null when unset.
    props = schemas["VectorStoreObject"]["properties"]
    if "expires_after" not in props or _is_nullable(props["expires_after"]):
        raise ValueError("spec changed: VectorStoreObject.expires_after is gone or nullable; drop correction 3")
    props["expires_after"] = _make_nullable(props["expires_after"])
    applied.append("VectorStoreObject.expires_after nullable")

    # 4. nullable: true in a 3.1 document (honoured by convert_schema).
    run = schemas["RunObject"]["properties"]
    if run["expires_at"].get("nullable") is not True or not _only_nullable(run["tool_choice"]["allOf"][1]):
        raise ValueError("spec changed: RunObject no longer uses `nullable: true`; revisit correction 4")
    applied.append("nullable: true honoured (3.0 meaning)")

    # 5. CreateMessageRequest.attachments: `required` on the array instead of its items.
    att = schemas["CreateMessageRequest"]["properties"]["attachments"]
    arrays = [b for b in att.get("anyOf", []) if b.get("type") == "array"]
    if len(arrays) != 1 or arrays[0].get("required") != ["file_id", "tools"] or "required" in arrays[0]["items"]:
        raise ValueError("spec changed: CreateMessageRequest.attachments `required` is no longer misplaced")
    del arrays[0]["required"]
    arrays[0]["items"]["required"] = ["file_id"]
    applied.append("CreateMessageRequest.attachments required -> items [file_id]")

    # 6. CompoundFilter's $recursiveRef.
    compound = schemas["CompoundFilter"]
    branches = compound["properties"]["filters"]["items"]["oneOf"]
    rec = [b for b in branches if b.get("$recursiveRef") == "#"]
    if len(rec) != 1 or compound.get("$recursiveAnchor") is not True:
        raise ValueError("spec changed: CompoundFilter no longer uses $recursiveRef")
    rec[0].pop("$recursiveRef")
    rec[0]["$ref"] = _REF_PREFIX + "CompoundFilter"
    compound.pop("$recursiveAnchor")
    applied.append("CompoundFilter $recursiveRef -> $ref")

    # 7. VectorStoreObject.name: a required, non-null string (kept strict).
    vs = schemas["VectorStoreObject"]
    if vs["properties"]["name"].get("type") != "string" or "name" not in vs["required"]:
        raise ValueError("spec changed: VectorStoreObject.name is no longer a required string")
    applied.append("VectorStoreObject.name kept a non-null string")

    return applied


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v[len(_REF_PREFIX):] if v.startswith(_REF_PREFIX) else v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for x in node:
            yield from _refs(x)


def _strict_integer(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)
StrictValidator = jsonschema.validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)


class Operation:
    def __init__(self, method: str, template: str, op: Dict[str, Any]):
        self.method = method
        self.template = template
        self.operation_id = op.get("operationId")
        segments = template.strip("/").split("/")
        self.regex = re.compile("^/" + "/".join(
            "[^/]+" if re.fullmatch(r"\{[^}]+\}", s) else re.escape(s) for s in segments) + "/?$")
        self.specificity = tuple(1 if s.startswith("{") else 0 for s in segments)
        content = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        self.response = content.get("schema") if content else None
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        self.request = body.get("schema") if body else None


class Spec:
    """The loaded, corrected, converted v2 spec (our operations only)."""

    def __init__(self, raw: Dict[str, Any]):
        components = copy.deepcopy(raw["components"]["schemas"])
        self.corrections = apply_known_corrections(components)
        self.operations: List[Operation] = []
        for template, item in raw["paths"].items():
            if not PATH_RE.match(template):
                continue
            for method, op in item.items():
                if method in ("get", "post", "delete"):
                    self.operations.append(Operation(method, template, op))
        roots = {"AssistantStreamEvent", "ErrorResponse"}
        for op in self.operations:
            roots.update(_refs(op.response))
            roots.update(_refs(op.request))
        seen: set = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(_refs(components[name]))
        self.defs: Dict[str, Any] = {name: convert_schema(components[name]) for name in sorted(seen)}
        StrictValidator.check_schema({"$defs": self.defs})
        self.events: Dict[str, Dict[str, Any]] = self._event_branches(components)
        self._validators: Dict[str, Any] = {}

    def _event_branches(self, components: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """Event name -> the converted AssistantStreamEvent branch for it."""
        out: Dict[str, Dict[str, Any]] = {}
        for ref in components["AssistantStreamEvent"]["oneOf"]:
            group = components[ref["$ref"][len(_REF_PREFIX):]]
            for branch in group.get("oneOf", [group]):
                names = branch["properties"]["event"]["enum"]
                if len(names) != 1 or names[0] in out:
                    raise ValueError(f"unexpected stream event branch {names}")
                out[names[0]] = convert_schema(branch)
        return out

    def find_operation(self, method: str, path: str) -> Operation:
        method = method.lower()
        found = [op for op in self.operations if op.method == method and op.regex.match(path)]
        if not found:
            raise SpecValidationError(f"{method.upper()} {path}: no operation in the v2 spec matches this path")
        # Literal segments beat parameters (POST /threads/runs is createThreadAndRun).
        found.sort(key=lambda op: op.specificity)
        return found[0]

    def validator(self, key: str, schema: Dict[str, Any]):
        v = self._validators.get(key)
        if v is None:
            StrictValidator.check_schema(schema)
            root = dict(schema)
            root["$defs"] = self.defs
            v = self._validators[key] = StrictValidator(root)
        return v


@functools.lru_cache(maxsize=None)
def load_spec(directory: Optional[str] = None) -> Spec:
    return Spec(_load_yaml_spec(Path(directory) if directory else spec_dir()))


def normalize_path(path: str) -> str:
    """Strip scheme/host, query string and the /v1 prefix."""
    path = re.sub(r"^[a-z]+://[^/]+", "", path)
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path.startswith("/v1/"):
        path = path[3:]
    return path


def _loc(path: Iterable[Any]) -> str:
    return "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in path) or "<root>"


def _format_errors(errors: List[jsonschema.ValidationError]) -> str:
    lines = []
    for err in errors[:20]:
        lines.append(f"  at {_loc(err.absolute_path)}: {err.message[:400]}")
        if err.context:
            best = jsonschema.exceptions.best_match(err.context)
            lines.append(f"      best match: at {_loc(best.absolute_path)}: {best.message[:300]}")
    if len(errors) > 20:
        lines.append(f"  ... and {len(errors) - 20} more")
    return "\n".join(lines)


def _short(body: Any, limit: int = 1500) -> str:
    text = json.dumps(body, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def _check(validator, body: Any, context: str, what: str) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise SpecValidationError(f"{context}: {what} does not match the v2 spec:\n{_format_errors(errors)}\n"
                                  f"  body: {_short(body)}")


def validate_against(name: str, body: Any, *, context: str = "") -> None:
    """Validate `body` against the (corrected, converted) component schema `name`."""
    spec = load_spec()
    _check(spec.validator("#" + name, {"$ref": f"#/$defs/{name}"}), body, context or name, name)


def validate_error_body(body: Any, *, context: str = "") -> None:
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        raise SpecValidationError(f"{context}: error body is not {{\"error\": {{...}}}}: {_short(body)}")
    validate_against("ErrorResponse", body, context=context)


def validate_response(method: str, path: str, status: int, body: Any) -> Optional[str]:
    """Validate one JSON response; returns the matched template (None for an error)."""
    rel = normalize_path(path)
    context = f"{method.upper()} {rel} -> {status}"
    if status >= 400:
        validate_error_body(body, context=context)
        return None
    op = load_spec().find_operation(method, rel)
    context = f"{method.upper()} {rel} ({op.operation_id}) -> {status}"
    if status != 200:
        raise SpecValidationError(f"{context}: the spec declares only a 200 response for this operation")
    if (op.method, op.template) in RAW_BODY_TEMPLATES:
        return op.template
    if op.response is None:
        raise SpecValidationError(f"{context}: the spec has no application/json 200 schema")
    _check(load_spec().validator(f"{op.method} {op.template}", convert_schema(op.response)), body, context, "response")
    return op.template


def validate_request(method: str, path: str, body: Any) -> str:
    """Validate a JSON request body against the operation's request schema; returns the operationId."""
    rel = normalize_path(path)
    op = load_spec().find_operation(method, rel)
    if op.request is None:
        raise SpecValidationError(f"{method.upper()} {rel}: the operation takes no JSON body")
    _check(load_spec().validator(f"req {op.method} {op.template}", convert_schema(op.request)), body,
           f"{method.upper()} {rel} ({op.operation_id})", "request body")
    return op.operation_id


def validate_event(name: str, data: Any, *, context: str = "") -> None:
    """One SSE event: `data` is the parsed JSON (or the string "[DONE]" for `done`)."""
    spec = load_spec()
    branch = spec.events.get(name)
    if branch is None:
        raise SpecValidationError(f"{context}: event {name!r} is not an AssistantStreamEvent")
    _check(spec.validator("event " + name, branch), {"event": name, "data": data},
           f"{context} event {name}".strip(), "event")


def parse_sse(text: str) -> List[Tuple[Optional[str], str]]:
    """(event name, data) pairs of a text/event-stream body; comments and blank frames dropped."""
    out: List[Tuple[Optional[str], str]] = []
    for frame in re.split(r"\r?\n\r?\n", text):
        name: Optional[str] = None
        data: List[str] = []
        for line in re.split(r"\r?\n", frame):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is not None or data:
            out.append((name, "\n".join(data)))
    return out


def validate_sse(method: str, path: str, text: str) -> List[str]:
    """Validate a whole stream: every event against its branch, ending with `done` / [DONE]."""
    context = f"{method.upper()} {normalize_path(path)} (stream)"
    names: List[str] = []
    events = parse_sse(text)
    for i, (name, raw) in enumerate(events):
        if name is None:
            raise SpecValidationError(f"{context}: frame {i} has no `event:` line: {raw[:300]!r}")
        if name == "done":
            data: Any = raw
        else:
            try:
                data = json.loads(raw)
            except ValueError as e:
                raise SpecValidationError(f"{context}: event {name} data is not JSON ({e}): {raw[:300]!r}")
        validate_event(name, data, context=context)
        names.append(name)
    if not names or names[-1] != "done":
        raise SpecValidationError(f"{context}: the stream does not end with `event: done` (events: {names})")
    if names.count("done") != 1:
        raise SpecValidationError(f"{context}: `done` sent {names.count('done')} times")
    return names


def is_raw_body(method: str, path: str) -> bool:
    try:
        op = load_spec().find_operation(method, normalize_path(path))
    except SpecValidationError:
        return False
    return (op.method, op.template) in RAW_BODY_TEMPLATES


if __name__ == "__main__":  # pragma: no cover
    s = load_spec()
    print("corrections:", *s.corrections, sep="\n  ")
    print(len(s.operations), "operations,", len(s.defs), "schemas,", len(s.events), "stream events")
