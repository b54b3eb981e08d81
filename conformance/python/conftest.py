"""Fixtures: start the real assistd binary, and clients whose every response is checked against the spec.

Environment:
  ASSISTD_BIN       the server binary (default <repo>/target/debug/assistd)
  ASSISTD_SPEC_DIR  the spec folder (default <repo>/../shared/spec)

Two kinds of server:
  * `server` / `client` / `raw` / `fresh_client`: the API surface, started with ASSISTD_WORKERS=0 so that
    runs stay `queued` (nothing executes them).
  * `engine_server` / `engine_client`: the run engine, ASSISTD_WORKERS=4 with every model routed to the
    `upstream` fixture (fake_upstream.FakeUpstream, an OpenAI-compatible chat-completions fake).
The server processes get none of the caller's other ASSISTD_* settings.

Every response that an SDK client or the raw httpx client receives goes through `_validation_hook`,
which reads the body and validates it with `spec_validate.validate_response` (errors against
ErrorResponse). Violations are collected (raising inside an httpx hook would be swallowed by the
SDK's retry logic and resurface as APIConnectionError) and turned into a failure of the test during
which they happened, by the `pytest_runtest_*` wrappers below.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional

import openai
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import spec_validate  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402
from harness import (  # noqa: E402,F401 - KEY_*, Server are part of this conftest's namespace
    KEY_A, KEY_B, REPO_ROOT, Server, ValidationLog, httpx, server_binary,
)

# The engine server's openai-poll-after-ms (the SDK's polling helpers sleep for it).
ENGINE_POLL_AFTER_MS = 40
ENGINE_WORKERS = 4
UPSTREAM_KEY = "sk-upstream-fake"


# ---------------------------------------------------------------------------------------------
# spec validation of every response
# ---------------------------------------------------------------------------------------------

VALIDATION = ValidationLog()


def _validation_hook(response: httpx.Response) -> None:
    response.read()
    request = response.request
    method = request.method
    path = request.url.path
    status = response.status_code
    if not path.startswith("/v1/") and path != "/v1":
        return  # /healthz and the like are not part of the contract
    where = f"{method} {path}{'?' + request.url.query.decode() if request.url.query else ''} -> {status}"
    VALIDATION.checked += 1
    if status < 400 and spec_validate.is_raw_body(method, path):
        return  # GET /files/{id}/content: raw bytes
    ctype = response.headers.get("content-type", "")
    if status < 400 and ctype.startswith("text/event-stream"):
        return  # streams are not validated here
    if not ctype.split(";")[0].strip() == "application/json":
        VALIDATION.add(f"{where}: content-type is {ctype!r}, expected application/json; body: {response.text[:500]!r}")
        return
    try:
        body = response.json()
    except ValueError as e:
        VALIDATION.add(f"{where}: body is not valid JSON ({e}): {response.text[:500]!r}")
        return
    try:
        spec_validate.validate_response(method, path, status, body)
    except spec_validate.SpecValidationError as e:
        query = f"  (query: {request.url.query.decode()})\n" if request.url.query else ""
        VALIDATION.add(f"{query}{e}")


def _check_validation(phase: str) -> None:
    failures = VALIDATION.take()
    if failures:
        raise AssertionError(
            f"{len(failures)} response(s) during {phase} violate the v1 spec:\n\n" + "\n\n".join(failures))


def _run_phase(phase: str):
    VALIDATION.take()
    try:
        result = yield
    except BaseException as exc:
        failures = VALIDATION.take()
        if failures and hasattr(exc, "add_note"):
            exc.add_note(f"\n{len(failures)} response(s) during {phase} violate the v1 spec:\n\n"
                         + "\n\n".join(failures))
        raise
    _check_validation(phase)
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
            f"assistd conformance: {VALIDATION.checked} /v1 responses were validated against the v1 spec")


def pytest_configure(config):
    config.addinivalue_line("markers", "no_server: the test does not need the assistd binary")


# ---------------------------------------------------------------------------------------------
# the server process
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def server_factory(tmp_path_factory):
    """start(settings=None) -> a fresh Server with its own empty data dir; all stopped at session end.

    Without `settings` the server runs no workers (ASSISTD_WORKERS=0): runs stay `queued`."""
    started: List[Server] = []
    binary = server_binary()

    def start(settings: Optional[Dict[str, str]] = None) -> Server:
        d = tmp_path_factory.mktemp("assistd")
        (d / "data").mkdir()
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
def base_url(server) -> str:
    return server.base_url


# ---------------------------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------------------------

def make_client(base_url: str, api_key: str) -> openai.OpenAI:
    http_client = httpx.Client(event_hooks={"response": [_validation_hook]}, timeout=30)
    # _strict_response_validation: the SDK's own pydantic models must parse every response exactly
    # (missing required fields or wrong types raise APIResponseValidationError).
    return openai.OpenAI(api_key=api_key, base_url=base_url, http_client=http_client, max_retries=0, timeout=30,
                         _strict_response_validation=True)


@pytest.fixture(scope="session")
def client(base_url) -> openai.OpenAI:
    """The SDK, project A (sk-test-a)."""
    c = make_client(base_url, KEY_A)
    yield c
    c.close()


@pytest.fixture(scope="session")
def other_client(base_url) -> openai.OpenAI:
    """The SDK, project B (sk-test-b)."""
    c = make_client(base_url, KEY_B)
    yield c
    c.close()


@pytest.fixture
def fresh_client(server_factory) -> openai.OpenAI:
    """The SDK against a server of its own, with an empty project (for exact list contents)."""
    srv = server_factory()
    c = make_client(srv.base_url, KEY_A)
    yield c
    c.close()
    srv.stop()


@pytest.fixture(scope="session")
def raw(server) -> httpx.Client:
    """A plain httpx client at the server root, project A, with `OpenAI-Beta: assistants=v1`.

    Use paths such as "/v1/assistants"; responses are validated like the SDK's."""
    c = httpx.Client(
        base_url=server.root_url,
        headers={"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v1"},
        event_hooks={"response": [_validation_hook]},
        timeout=30,
    )
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------
# the run engine: a server with workers, and the fake upstream model it calls
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
def engine_server(server_factory, fake_upstream) -> Server:
    return server_factory({
        "ASSISTD_WORKERS": str(ENGINE_WORKERS),
        "ASSISTD_UPSTREAM_URL": fake_upstream.base_url,
        "ASSISTD_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "ASSISTD_POLL_AFTER_MS": str(ENGINE_POLL_AFTER_MS),
    })


@pytest.fixture(scope="session")
def engine_client(engine_server) -> openai.OpenAI:
    """The SDK against the engine server, project A; every response validated like `client`'s."""
    c = make_client(engine_server.base_url, KEY_A)
    yield c
    c.close()
