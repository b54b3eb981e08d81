"""Small helpers shared by the test modules."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Dict, Optional

import openai
import pytest

MODEL = "gpt-4-turbo"
ID_RE = {
    "asst": re.compile(r"^asst_[A-Za-z0-9]+$"),
    "thread": re.compile(r"^thread_[A-Za-z0-9]+$"),
    "msg": re.compile(r"^msg_[A-Za-z0-9]+$"),
    "run": re.compile(r"^run_[A-Za-z0-9]+$"),
    "step": re.compile(r"^step_[A-Za-z0-9]+$"),
    "file": re.compile(r"^file-[A-Za-z0-9]+$"),
}


def assert_id(value: str, kind: str) -> None:
    assert isinstance(value, str) and ID_RE[kind].match(value), f"{value!r} is not a {kind} id"


def assert_recent(ts: int, slack: int = 120) -> None:
    now = int(time.time())
    assert isinstance(ts, int), ts
    assert now - slack <= ts <= now + slack, f"timestamp {ts} is not close to now ({now})"


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def upload(client: openai.OpenAI, content: bytes = b"hello", name: str = "a.txt", purpose: str = "assistants"):
    return client.files.create(file=(name, content), purpose=purpose)


def raw_json(raw_response) -> Dict[str, Any]:
    """The JSON body of a `.with_raw_response` call."""
    return raw_response.http_response.json()


def assert_error(exc_info, status: int, *, param: Optional[str] = None, param_prefix: Optional[str] = None,
                 type_: Optional[str] = "invalid_request_error") -> Dict[str, Any]:
    """Check an SDK APIStatusError: status code, the four error keys, and the `param` it names."""
    e = exc_info.value if hasattr(exc_info, "value") else exc_info
    assert isinstance(e, openai.APIStatusError), e
    assert e.status_code == status, f"expected HTTP {status}, got {e.status_code}: {e.response.text}"
    body = e.response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    for key in ("message", "type", "param", "code"):
        assert key in err, f"error lacks {key!r}: {body}"
    assert isinstance(err["message"], str) and err["message"], body
    assert e.body == err  # the SDK unwraps "error"
    if type_ is not None:
        assert err["type"] == type_, f"error type {err['type']!r}, expected {type_!r}: {body}"
    if param is not None:
        assert err["param"] == param, f"error param {err['param']!r}, expected {param!r}: {body}"
    if param_prefix is not None:
        assert isinstance(err["param"], str) and err["param"].startswith(param_prefix), \
            f"error param {err['param']!r} should name {param_prefix!r}: {body}"
    return err


def page_ids(page) -> list:
    return [x.id for x in page.data]


def iterate(paginator, cap: int = 5000) -> list:
    """Iterate a SyncCursorPage the way the SDK does (auto-pagination); return the objects.

    Fails instead of looping forever when the server ignores `after` (a repeated id)."""
    out, seen = [], set()
    for x in paginator:
        assert x.id not in seen, f"auto-pagination returned {x.id} twice (is `after` honoured?)"
        seen.add(x.id)
        out.append(x)
        assert len(out) <= cap, f"auto-pagination returned more than {cap} objects"
    return out


def collect_all(paginator) -> list:
    """The ids of every object that auto-pagination yields."""
    return [x.id for x in iterate(paginator)]


def expect_not_found(fn, *args, **kwargs) -> Dict[str, Any]:
    with pytest.raises(openai.NotFoundError) as ei:
        fn(*args, **kwargs)
    return assert_error(ei, 404)
