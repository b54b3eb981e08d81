"""Validate raw JSON responses of assistd against the Assistants v1 OpenAPI spec.

The spec (``openapi-assistants-v1.yaml``) is OpenAPI 3.0; this module converts its component
schemas into JSON Schema draft 2020-12 and validates response bodies with ``jsonschema``.

Conversion rules (OpenAPI 3.0 -> JSON Schema):
  * ``nullable: true`` allows ``null`` (``type: X`` -> ``type: [X, "null"]``, ``null`` added to an
    ``enum``; a ``$ref``/``oneOf``/``anyOf``/``allOf`` schema is wrapped in ``anyOf: [..., {type: null}]``).
    This is also applied to ``nullable`` written beside a ``$ref`` (RunObject.truncation_strategy,
    tool_choice, response_format), as the spec authors plainly intend.
  * ``$ref: '#/components/schemas/X'`` is resolved (rewritten to ``#/$defs/X``).
  * ``x-*`` keys and pure annotations (description, example, title, deprecated, default) are dropped.
  * boolean ``exclusiveMinimum``/``exclusiveMaximum`` (draft 4) become the numeric form.
  * ``type: integer`` means a JSON integer: ``1.0`` is rejected (JSON Schema would accept it).

Known errors in the v1 spec, documented in the spec folder's README.md, and the only corrections
applied (each correction asserts that the spec still has the error, so a changed spec fails loudly):
  1. List responses: ``first_id`` / ``last_id`` may be ``null`` (an empty page).
  2. ``ListAssistantFilesResponse`` and ``ListMessageFilesResponse`` require an undefined ``items``:
     dropped from ``required``.
  3. ``OpenAIFile.status_details`` may be ``null``.
Nothing else is relaxed.

Public API: ``validate_response(method, path, status, json_body)`` raises ``SpecValidationError``.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jsonschema
from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve()
# <repo>/conformance/python/spec_validate.py -> parents[2] is <repo>; the spec sits beside it.
REPO_ROOT = HERE.parents[2]
DEFAULT_SPEC_DIR = REPO_ROOT.parent / "shared" / "spec"
SPEC_FILE = "openapi-assistants-v1.yaml"

# Paths (after the /v1 prefix) whose 200 body is not JSON; schema validation is skipped.
RAW_BODY_TEMPLATES = {("get", "/files/{file_id}/content")}

# The list responses whose first_id/last_id the spec wrongly types as non-null strings.
CURSOR_LIST_SCHEMAS = (
    "ListAssistantsResponse",
    "ListAssistantFilesResponse",
    "ListMessagesResponse",
    "ListMessageFilesResponse",
    "ListRunsResponse",
    "ListRunStepsResponse",
    "ListThreadsResponse",
)
# The two list responses that require an undefined property `items`.
ITEMS_BUG_SCHEMAS = ("ListAssistantFilesResponse", "ListMessageFilesResponse")

_ANNOTATIONS = {"description", "example", "examples", "title", "deprecated", "default", "externalDocs",
                "readOnly", "writeOnly", "xml", "discriminator"}


class SpecValidationError(AssertionError):
    """A response body that does not conform to the spec."""


def spec_dir() -> Path:
    env = os.environ.get("ASSISTD_SPEC_DIR")
    return Path(env).resolve() if env else DEFAULT_SPEC_DIR


def _load_yaml_spec(directory: Path) -> Dict[str, Any]:
    loader_path = directory / "load_spec.py"
    if not loader_path.is_file():
        raise FileNotFoundError(
            f"spec loader not found at {loader_path}; set ASSISTD_SPEC_DIR to the shared/spec folder")
    spec = importlib.util.spec_from_file_location("assistd_load_spec", loader_path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.load(str(directory / SPEC_FILE))


# --------------------------------------------------------------------------------------------
# OpenAPI 3.0 -> JSON Schema
# --------------------------------------------------------------------------------------------

_REF_PREFIX = "#/components/schemas/"


def convert_schema(node: Any) -> Any:
    """Convert one OpenAPI 3.0 schema (recursively) into JSON Schema 2020-12."""
    if isinstance(node, list):
        return [convert_schema(x) for x in node]
    if not isinstance(node, dict):
        return node

    out: Dict[str, Any] = {}
    nullable = bool(node.get("nullable", False))
    for key, value in node.items():
        if key.startswith("x-") or key in _ANNOTATIONS or key == "nullable":
            continue
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith(_REF_PREFIX):
                raise ValueError(f"unsupported $ref {value!r}")
            out["$ref"] = "#/$defs/" + value[len(_REF_PREFIX):]
        elif key == "properties":
            out["properties"] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties"):
            out[key] = convert_schema(value) if isinstance(value, (dict, list)) else value
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [convert_schema(sub) for sub in value]
        else:
            # type, enum, required, maxItems, minItems, maxLength, minLength, minimum, maximum,
            # pattern, format, ... are the same keyword in both dialects.
            out[key] = copy.deepcopy(value)

    # OpenAPI 3.0 (draft 4) boolean exclusiveMinimum/exclusiveMaximum -> numeric form.
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


def apply_known_corrections(schemas: Dict[str, Any]) -> List[str]:
    """Apply exactly the spec-README corrections to the raw OpenAPI component schemas.

    Mutates `schemas` in place and returns a description of what was changed."""
    applied: List[str] = []

    # 1. first_id / last_id may be null on list responses.
    for name in CURSOR_LIST_SCHEMAS:
        props = schemas[name]["properties"]
        for field in ("first_id", "last_id"):
            if field not in props:
                raise ValueError(f"spec changed: {name}.{field} is gone")
            if not props[field].get("nullable"):
                props[field] = dict(props[field], nullable=True)
                applied.append(f"{name}.{field} nullable")

    # 2. drop the undefined required `items`.
    for name in ITEMS_BUG_SCHEMAS:
        schema = schemas[name]
        required = schema.get("required", [])
        if "items" not in required or "items" in schema.get("properties", {}):
            raise ValueError(f"spec changed: {name} no longer requires an undefined `items`")
        schema["required"] = [r for r in required if r != "items"]
        applied.append(f"{name}.required -items")

    # 3. OpenAIFile.status_details may be null.
    props = schemas["OpenAIFile"]["properties"]
    if "status_details" not in props:
        raise ValueError("spec changed: OpenAIFile.status_details is gone")
    if not props["status_details"].get("nullable"):
        props["status_details"] = dict(props["status_details"], nullable=True)
        applied.append("OpenAIFile.status_details nullable")

    return applied


def _strict_integer(checker, instance) -> bool:
    # JSON Schema counts 1.0 as an integer; the wire must carry a real integer.
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)
StrictValidator = jsonschema.validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)


class Spec:
    """The loaded, converted v1 spec."""

    def __init__(self, raw: Dict[str, Any]):
        self.raw = raw
        components = copy.deepcopy(raw["components"]["schemas"])
        self.corrections = apply_known_corrections(components)
        self.defs: Dict[str, Any] = {name: convert_schema(s) for name, s in components.items()}
        # operations: (method, template, regex, specificity, response schema or None)
        self.operations: List[Tuple[str, str, "re.Pattern[str]", Tuple[int, ...], Optional[Dict[str, Any]]]] = []
        for template, item in raw["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                resp = op.get("responses", {}).get("200", {})
                content = resp.get("content", {}).get("application/json")
                schema = convert_schema(content["schema"]) if content and "schema" in content else None
                segments = template.strip("/").split("/")
                pattern = "^/" + "/".join(
                    "[^/]+" if re.fullmatch(r"\{[^}]+\}", seg) else re.escape(seg) for seg in segments
                ) + "/?$"
                specificity = tuple(1 if seg.startswith("{") else 0 for seg in segments)
                self.operations.append((method, template, re.compile(pattern), specificity, schema))
        self._validators: Dict[str, Any] = {}
        self._defs_checked = False

    def find_operation(self, method: str, path: str) -> Tuple[str, Optional[Dict[str, Any]]]:
        """Return (template, 200 response schema) of the operation matching a concrete path."""
        method = method.lower()
        candidates = [(spec_, tpl, schema) for (m, tpl, rx, spec_, schema) in self.operations
                      if m == method and rx.match(path)]
        if not candidates:
            raise SpecValidationError(f"{method.upper()} {path}: no operation in the v1 spec matches this path")
        # Prefer literal segments over parameters (POST /threads/runs is createThreadAndRun, not
        # modifyThread with thread_id="runs").
        candidates.sort(key=lambda c: c[0])
        _, template, schema = candidates[0]
        return template, schema

    def validator_for(self, key: str, schema: Dict[str, Any]):
        v = self._validators.get(key)
        if v is None:
            if not self._defs_checked:
                StrictValidator.check_schema({"$defs": self.defs})
                self._defs_checked = True
            StrictValidator.check_schema(schema)
            root = dict(schema)
            root["$defs"] = self.defs
            v = StrictValidator(root)
            self._validators[key] = v
        return v

    def schema_validator(self, name: str):
        return self.validator_for("#" + name, {"$ref": f"#/$defs/{name}"})


@functools.lru_cache(maxsize=None)
def load_spec(directory: Optional[str] = None) -> Spec:
    d = Path(directory) if directory else spec_dir()
    return Spec(_load_yaml_spec(d))


def normalize_path(path: str) -> str:
    """Strip scheme/host, query string and the /v1 prefix."""
    path = re.sub(r"^[a-z]+://[^/]+", "", path)
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path == "/v1":
        return "/"
    if path.startswith("/v1/"):
        path = path[3:]
    return path


def _format_errors(errors: List[jsonschema.ValidationError]) -> str:
    lines = []
    for err in errors[:20]:
        loc = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path) or "<root>"
        msg = err.message
        if len(msg) > 400:
            msg = msg[:400] + "..."
        lines.append(f"  at {loc}: {msg}")
        # For oneOf/anyOf failures, show the best sub-error too.
        if err.context:
            best = jsonschema.exceptions.best_match(err.context)
            sub_loc = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path)
            lines.append(f"      best match: at {sub_loc or '<root>'}: {best.message[:300]}")
    if len(errors) > 20:
        lines.append(f"  ... and {len(errors) - 20} more")
    return "\n".join(lines)


def _short(body: Any, limit: int = 1500) -> str:
    text = json.dumps(body, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def validate_against(name: str, body: Any, *, context: str = "") -> None:
    """Validate `body` against the (corrected, converted) component schema `name`."""
    spec = load_spec()
    validator = spec.schema_validator(name)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise SpecValidationError(
            f"{context or name}: body does not match {name}:\n{_format_errors(errors)}\n  body: {_short(body)}")


def validate_error_body(body: Any, *, context: str = "") -> None:
    """An error body: ErrorResponse, with all four keys message/type/param/code present."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        raise SpecValidationError(f"{context}: error body is not {{\"error\": {{...}}}}: {_short(body)}")
    missing = [k for k in ("message", "type", "param", "code") if k not in body["error"]]
    if missing:
        raise SpecValidationError(f"{context}: error object lacks {missing}: {_short(body)}")
    validate_against("ErrorResponse", body, context=context)


def validate_response(method: str, path: str, status: int, json_body: Any) -> Optional[str]:
    """Validate one response body against the spec.

    `path` is the request path (a full URL, or a path with or without /v1 prefix and query string).
    Returns the matched path template (None for an error response); raises SpecValidationError.
    """
    method = method.lower()
    rel = normalize_path(path)
    context = f"{method.upper()} {rel} -> {status}"

    if status >= 400:
        validate_error_body(json_body, context=context)
        return None

    spec = load_spec()
    template, schema = spec.find_operation(method, rel)
    context = f"{method.upper()} {rel} ({template}) -> {status}"
    if status != 200:
        raise SpecValidationError(f"{context}: the spec declares only a 200 response for this operation")
    if (method, template) in RAW_BODY_TEMPLATES:
        return template
    if schema is None:
        raise SpecValidationError(f"{context}: the spec has no application/json 200 schema")
    validator = spec.validator_for(f"{method} {template}", schema)
    errors = sorted(validator.iter_errors(json_body), key=lambda e: list(e.absolute_path))
    if errors:
        raise SpecValidationError(f"{context}: response does not match the spec:\n{_format_errors(errors)}\n"
                                  f"  body: {_short(json_body)}")
    # Belt and braces: every `required` property of the top-level object schema is present.
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/") and isinstance(json_body, dict):
        top = spec.defs[ref[len("#/$defs/"):]]
        missing = [k for k in top.get("required", []) if k not in json_body]
        if missing:
            raise SpecValidationError(f"{context}: required properties missing: {missing}\n  body: {_short(json_body)}")
    return template


def is_raw_body(method: str, path: str) -> bool:
    """True when the operation's 200 body is raw bytes (not validated)."""
    rel = normalize_path(path)
    try:
        template, _ = load_spec().find_operation(method, rel)
    except SpecValidationError:
        return False
    return (method.lower(), template) in RAW_BODY_TEMPLATES


if __name__ == "__main__":  # pragma: no cover - quick manual check
    s = load_spec()
    print("spec dir:", spec_dir())
    print("corrections applied:", *s.corrections, sep="\n  ")
    print(len(s.operations), "operations,", len(s.defs), "schemas")
