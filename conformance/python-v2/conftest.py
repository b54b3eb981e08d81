"""Fixtures of the v2 suite: the real assistd binary, the fake upstream, and clients whose every
response (JSON bodies and every SSE event) is validated against the spec its request asked for.

Environment: ASSISTD_BIN (default <repo>/target/debug/assistd), ASSISTD_SPEC_DIR (default
<repo>/../shared/spec).

Servers (each with its own temporary SQLite data dir, none of the caller's ASSISTD_* settings):
  * `server`: ASSISTD_WORKERS=4, every model routed to the session's fake upstream
    (../python/fake_upstream.py), ASSISTD_POLL_AFTER_MS=40 so the SDK's pollers loop quickly.
  * `ingest_server`: the same, with ASSISTD_INGEST_WORKERS=0: vector-store files stay
    `in_progress`, so a batch can be cancelled.

Which spec a response is checked against follows its request's `OpenAI-Beta` header:
`assistants=v2` -> the v2 spec; `assistants=v1` -> the v1 spec; no header -> the v1 spec for
/assistants and /threads, the v2 spec for /files and /vector_stores (the v2 SDKs send no header on
POST /files; vector stores exist only in v2). Error bodies are checked against the envelope of
either (they are the same). `text/event-stream` bodies are read whole by the hook (the SDK then
parses the buffered body) and every event is validated against its AssistantStreamEvent branch.
A v2 POST answered 200 must also have carried a JSON body the v2 spec allows: otherwise the server
accepted input the spec forbids. Violations fail the test during which they were received
(pytest_runtest_* wrappers below).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, Optional

import openai
import pytest

HERE = Path(__file__).resolve().parent
V1_DIR = HERE.parent / "python"
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(V1_DIR))

import spec_validate as spec_v1  # noqa: E402
import spec_validate_v2 as spec_v2  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402
from harness import KEY_A, KEY_B, Server, ValidationLog, httpx, server_binary  # noqa: E402

POLL_AFTER_MS = 40
WORKERS = 4
UPSTREAM_KEY = "sk-upstream-fake"
CLIENT_TIMEOUT = 20

VALIDATION = ValidationLog()


def spec_version(request: "httpx.Request") -> str:
    """"v1" or "v2": the spec a response to `request` must follow (see the module docstring)."""
    path = spec_v2.normalize_path(request.url.path)
    beta = request.headers.get("openai-beta", "")
    if path.startswith("/vector_stores"):
        return "v2"
    if "assistants=v2" in beta:
        return "v2"
    if "assistants=v1" in beta:
        return "v1"
    return "v2" if path.startswith("/files") else "v1"


def _validation_hook(response: "httpx.Response") -> None:
    response.read()
    request = response.request
    method, path, status = request.method, request.url.path, response.status_code
    if not path.startswith("/v1/"):
        return  # /healthz and the like are not part of the contract
    version = spec_version(request)
    spec = spec_v2 if version == "v2" else spec_v1
    where = f"{method} {path}{'?' + request.url.query.decode() if request.url.query else ''} -> {status} ({version})"
    VALIDATION.checked += 1
    if status < 400 and spec.is_raw_body(method, path):
        return
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    try:
        if status < 400 and ctype == "text/event-stream":
            if version == "v2":
                spec_v2.validate_sse(method, path, response.text)
            else:
                VALIDATION.add(f"{where}: this suite streams only under v2")
            return
        if ctype != "application/json":
            VALIDATION.add(f"{where}: content-type is {ctype!r}, expected application/json; "
                           f"body: {response.text[:500]!r}")
            return
        try:
            body = response.json()
        except ValueError as e:
            VALIDATION.add(f"{where}: body is not valid JSON ({e}): {response.text[:500]!r}")
            return
        spec.validate_response(method, path, status, body)
        if version == "v2" and status == 200:
            _check_accepted_request(request)
    except (spec_v1.SpecValidationError, spec_v2.SpecValidationError) as e:
        VALIDATION.add(f"{where}\n{e}")


def _check_accepted_request(request: "httpx.Request") -> None:
    """A JSON body the server accepted must be one the v2 spec allows (a 200 for a body the spec
    forbids means a constraint is not enforced)."""
    if request.method != "POST" or not request.headers.get("content-type", "").startswith("application/json"):
        return
    try:
        body = json.loads(request.content)
    except ValueError:
        return
    try:
        spec_v2.validate_request(request.method, request.url.path, body)
    except spec_v2.SpecValidationError as e:
        raise spec_v2.SpecValidationError(f"the server accepted (200) a request body the v2 spec forbids:\n{e}")


def _run_phase(phase: str):
    VALIDATION.take()
    try:
        result = yield
    except BaseException as exc:
        failures = VALIDATION.take()
        if failures and hasattr(exc, "add_note"):
            exc.add_note(f"\n{len(failures)} response(s) during {phase} violate the spec:\n\n" + "\n\n".join(failures))
        raise
    failures = VALIDATION.take()
    if failures:
        raise AssertionError(f"{len(failures)} response(s) during {phase} violate the spec:\n\n" + "\n\n".join(failures))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _run_phase("setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _run_phase("the test"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _run_phase("teardown"))


def pytest_terminal_summary(terminalreporter):
    if VALIDATION.checked:
        terminalreporter.write_line(
            f"assistd v2 conformance: {VALIDATION.checked} /v1 responses were validated against their spec")


def pytest_configure(config):
    config.addinivalue_line("markers", "no_server: the test does not need the assistd binary")


# ---------------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fake_upstream() -> FakeUpstream:
    up = FakeUpstream()
    yield up
    up.close()


@pytest.fixture
def upstream(fake_upstream) -> FakeUpstream:
    """The session's fake upstream; hanging replies are released when the test ends."""
    yield fake_upstream
    fake_upstream.release_hangs()


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory, fake_upstream):
    started = []
    binary = server_binary()

    def start(extra: Optional[Dict[str, str]] = None) -> Server:
        d = tmp_path_factory.mktemp("assistd")
        (d / "data").mkdir()
        settings = {
            "ASSISTD_WORKERS": str(WORKERS),
            "ASSISTD_UPSTREAM_URL": fake_upstream.base_url,
            "ASSISTD_UPSTREAM_API_KEY": UPSTREAM_KEY,
            "ASSISTD_POLL_AFTER_MS": str(POLL_AFTER_MS),
        }
        settings.update(extra or {})
        srv = Server(binary, d / "data", d, settings=settings)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def server(server_factory) -> Server:
    return server_factory()


@pytest.fixture(scope="session")
def ingest_server(server_factory) -> Server:
    return server_factory({"ASSISTD_INGEST_WORKERS": "0"})


# ---------------------------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------------------------

def make_client(base_url: str, api_key: str = KEY_A, extra_hooks=()) -> openai.OpenAI:
    """The official SDK, unmodified, with strict response validation and the spec hook (then `extra_hooks`)."""
    http_client = httpx.Client(event_hooks={"response": [_validation_hook, *extra_hooks]}, timeout=CLIENT_TIMEOUT)
    return openai.OpenAI(api_key=api_key, base_url=base_url, http_client=http_client, max_retries=0,
                         timeout=CLIENT_TIMEOUT, _strict_response_validation=True)


def make_raw(root_url: str, beta: Optional[str], api_key: str = KEY_A) -> "httpx.Client":
    headers = {"Authorization": f"Bearer {api_key}"}
    if beta is not None:
        headers["OpenAI-Beta"] = beta
    return httpx.Client(base_url=root_url, headers=headers, event_hooks={"response": [_validation_hook]},
                        timeout=CLIENT_TIMEOUT)


@pytest.fixture(scope="session")
def client(server) -> openai.OpenAI:
    c = make_client(server.base_url, KEY_A)
    yield c
    c.close()


@pytest.fixture(scope="session")
def other_client(server) -> openai.OpenAI:
    c = make_client(server.base_url, KEY_B)
    yield c
    c.close()


@pytest.fixture(scope="session")
def ingest_client(ingest_server) -> openai.OpenAI:
    c = make_client(ingest_server.base_url, KEY_A)
    yield c
    c.close()


@pytest.fixture(scope="session")
def raw_v1(server) -> "httpx.Client":
    """Plain httpx at the server root with `OpenAI-Beta: assistants=v1` (paths like "/v1/assistants")."""
    c = make_raw(server.root_url, "assistants=v1")
    yield c
    c.close()


@pytest.fixture(scope="session")
def raw_v2(server) -> "httpx.Client":
    c = make_raw(server.root_url, "assistants=v2")
    yield c
    c.close()


class Seen:
    """Every JSON response body a `watched` client received: [(method, path, status, body, OpenAI-Beta)]."""

    def __init__(self) -> None:
        self.responses = []

    def hook(self, response: "httpx.Response") -> None:
        if response.headers.get("content-type", "").startswith("application/json"):
            self.responses.append((response.request.method, spec_v2.normalize_path(response.request.url.path),
                                   response.status_code, response.json(),
                                   response.request.headers.get("openai-beta")))

    def bodies(self, method: str, pattern: str):
        import re
        rx = re.compile(pattern)
        return [b for (m, p, s, b, _) in self.responses if m == method and s == 200 and rx.fullmatch(p)]


@pytest.fixture
def watched(server):
    """(client, Seen): the SDK against `server`, recording every JSON body it receives."""
    seen = Seen()
    c = make_client(server.base_url, KEY_A, extra_hooks=[seen.hook])
    yield c, seen
    c.close()


@pytest.fixture
def ingest_watched(ingest_server):
    seen = Seen()
    c = make_client(ingest_server.base_url, KEY_A, extra_hooks=[seen.hook])
    yield c, seen
    c.close()


@pytest.fixture
def fresh_files_client(server_factory):
    """The SDK against a server of its own (an empty project: exact list contents)."""
    srv = server_factory()
    c = make_client(srv.base_url, KEY_A)
    yield c
    c.close()
    srv.stop()


@pytest.fixture
def raw_with(server):
    """raw_with(beta) -> a plain httpx client at `server` sending `OpenAI-Beta: beta` (None: no header)."""
    made = []

    def make(beta: Optional[str]) -> "httpx.Client":
        c = make_raw(server.root_url, beta)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
