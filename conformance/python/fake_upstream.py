"""A small OpenAI-compatible chat-completions server for the run-engine tests.

`FakeUpstream` listens on a real socket (127.0.0.1, port 0) with the stdlib `http.server` in a
thread and answers `POST /v1/chat/completions` with OpenAI's streaming (SSE) chunk format:

    data: {"id": ..., "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {...},
           "finish_reason": null}]}
    ...
    data: {... "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    data: {... "choices": [], "usage": {"prompt_tokens": .., "completion_tokens": .., "total_tokens": ..}}
    data: [DONE]

Replies are scripted per test. One server is shared by a whole session, and the assistd under
test may still be working on an earlier test's run, so scripts are keyed by a *tag*: a unique
string the test puts into its assistant's instructions (which reach the upstream as the system
message). A request is answered with the next reply scripted for the tag found in its body and
recorded under that tag; a request that matches no scripted reply gets an HTTP 400 (which assistd
does not retry), so a stray run fails fast instead of eating another test's replies.

    up.script(tag, text("Hello", ", world"), ...)
    up.script(tag, tool_calls(("get_weather", '{"city": "Paris"}')), text("Sunny."))
    up.script(tag, hang())          # one empty delta, then nothing until the client goes away
    up.script(tag, drop("Half"))    # some text, then the connection breaks mid-stream
    up.requests(tag)                # [Recorded(body=..., headers=..., ...), ...]

One unscripted kind of request is answered anyway, so that code written for OpenAI (the SDKs'
own examples, whose instructions carry no tag) runs unmodified: a request that matches no tag and
offers the `code_interpreter` function (what assistd offers the model for the `code_interpreter`
tool) gets, while it carries no `tool` message yet, a streamed `code_interpreter` call whose code
really computes the answer to the last user message (`auto_code`: a linear equation such as
`3x + 11 = 14` is solved with plain arithmetic and the result printed); once it carries the tool's
output, a text answer quoting that output (`auto_answer`). Such requests are recorded with
`tag=None, auto=True`; `up.auto_requests()` lists them.
"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple, Union

PROMPT_TOKENS = 11


# ---------------------------------------------------------------------------------------------
# replies
# ---------------------------------------------------------------------------------------------

@dataclass
class Text:
    """Streams `chunks` as content deltas (`delay` seconds before each), then finish/usage/[DONE]."""
    chunks: Sequence[str]
    delay: float = 0.0
    finish: str = "stop"
    prompt_tokens: int = PROMPT_TOKENS
    completion_tokens: Optional[int] = None  # default: one token per chunk

    @property
    def value(self) -> str:
        return "".join(self.chunks)

    def usage(self) -> Tuple[int, int]:
        c = len(self.chunks) if self.completion_tokens is None else self.completion_tokens
        return self.prompt_tokens, c


@dataclass
class ToolCalls:
    """Streams function calls (parallel when more than one), each call's arguments in two pieces."""
    calls: Sequence[Tuple[str, str]]  # (name, arguments as a JSON string)
    prompt_tokens: int = PROMPT_TOKENS
    completion_tokens: int = 9
    pieces: int = 2  # how many argument deltas each call is streamed in

    def usage(self) -> Tuple[int, int]:
        return self.prompt_tokens, self.completion_tokens


@dataclass
class Hang:
    """Sends the role delta (and `chunks` of text, if any), then nothing until the client closes
    the connection, `release()` is called, or `max_seconds` pass."""
    chunks: Sequence[str] = ()
    max_seconds: float = 60.0
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Drop:
    """Sends the role delta and `chunks` of text, then breaks the connection mid-body (no finish_reason,
    no [DONE], no end of the chunked body): a network failure during the stream."""
    chunks: Sequence[str] = ()


@dataclass
class Error:
    """Answers with an HTTP error and an OpenAI error body."""
    status: int = 400
    message: str = "scripted upstream error"


Reply = Union[Text, ToolCalls, Hang, Drop, Error]


def text(*chunks: str, **kw: Any) -> Text:
    return Text(chunks=list(chunks), **kw)


def tool_calls(*calls: Tuple[str, str], **kw: Any) -> ToolCalls:
    return ToolCalls(calls=list(calls), **kw)


def hang(*chunks: str, **kw: Any) -> Hang:
    return Hang(chunks=list(chunks), **kw)


def drop(*chunks: str) -> Drop:
    return Drop(chunks=list(chunks))


# ---------------------------------------------------------------------------------------------
# the unscripted code_interpreter behaviour
# ---------------------------------------------------------------------------------------------

CODE_INTERPRETER = "code_interpreter"
_EQUATION = re.compile(r"(-?\d+(?:\.\d+)?)\s*\*?\s*x\s*([+-])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")


def offers_code_interpreter(body: Any) -> bool:
    tools = body.get("tools") if isinstance(body, dict) else None
    return any(isinstance(t, dict) and (t.get("function") or {}).get("name") == CODE_INTERPRETER
               for t in tools or [])


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def auto_code(question: str) -> str:
    """Python that computes the answer to `question` and prints it."""
    m = _EQUATION.search(question)
    if m:
        a, sign, b, c = m.groups()
        return (f"# Solve {a}x {sign} {b} = {c} for x\n"
                f"a, b, c = {a}, {sign}{b}, {c}\n"
                "x = (c - b) / a\n"
                "print(f\"x = {x:g}\")")
    return f"question = {question!r}\nprint(len(question.split()), 'words')"


def auto_answer(output: str) -> str:
    return f"I ran the code; it printed:\n\n{output.strip()}\n\nSo the answer is {output.strip()}."


def auto_reply(body: Any) -> Optional[Reply]:
    """The reply to an unscripted request that offers code_interpreter, else None (HTTP 400 as before)."""
    if not offers_code_interpreter(body):
        return None
    messages = body.get("messages") or []
    results = [_content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    if results:
        answer = auto_answer(results[-1])
        words = answer.split(" ")
        return Text(chunks=[w + " " for w in words[:-1]] + words[-1:])
    users = [_content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    code = auto_code(users[-1] if users else "")
    return ToolCalls(calls=[(CODE_INTERPRETER, json.dumps({"code": code}))], pieces=4)


# ---------------------------------------------------------------------------------------------
# the record
# ---------------------------------------------------------------------------------------------

@dataclass
class Recorded:
    """One request the fake received."""
    path: str
    headers: Dict[str, str]  # lower-case names
    body: Any                # the parsed JSON body (None when it was not JSON)
    tag: Optional[str]
    reply: Optional[Reply]
    received_at: float
    auto: bool = False  # answered by the unscripted code_interpreter behaviour
    finished: threading.Event = field(default_factory=threading.Event)      # the handler returned
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client went away mid-reply

    @property
    def messages(self) -> List[Dict[str, Any]]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []


class _ClientGone(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------

class FakeUpstream:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: Dict[str, Deque[Reply]] = {}
        self._records: List[Recorded] = []
        self._hangs: List[Hang] = []
        self._arrived = threading.Condition(self._lock)
        fake = self

        class Handler(_Handler):
            upstream = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-upstream", daemon=True)
        self._thread.start()

    # --- scripting ----------------------------------------------------------------------------

    @staticmethod
    def new_tag() -> str:
        return f"tag-{uuid.uuid4().hex}"

    def script(self, tag: str, *replies: Reply) -> None:
        """Queue replies for the requests whose body contains `tag`."""
        with self._lock:
            self._scripts.setdefault(tag, deque()).extend(replies)
            self._hangs.extend(r for r in replies if isinstance(r, Hang))

    def pending(self, tag: str) -> int:
        """Replies scripted for `tag` and not used yet."""
        with self._lock:
            return len(self._scripts.get(tag, ()))

    def release_hangs(self) -> None:
        """End every hanging reply (test teardown)."""
        with self._lock:
            hangs, self._hangs = self._hangs, []
        for h in hangs:
            h.release()

    # --- the record -----------------------------------------------------------------------------

    def requests(self, tag: Optional[str] = None) -> List[Recorded]:
        with self._lock:
            return [r for r in self._records if tag is None or r.tag == tag]

    def wait_for_requests(self, tag: str, n: int, timeout: float = 15.0) -> List[Recorded]:
        """Block until `n` requests for `tag` have arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                got = [r for r in self._records if r.tag == tag]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake upstream: expected {n} request(s) for {tag}, got {len(got)} "
                                         f"within {timeout}s")
                self._arrived.wait(left)

    # --- internals ------------------------------------------------------------------------------

    def _take(self, body: Any) -> Tuple[Optional[str], Optional[Reply]]:
        haystack = json.dumps(body) if body is not None else ""
        with self._lock:
            for tag, queue in self._scripts.items():
                if tag in haystack:
                    return tag, (queue.popleft() if queue else None)
        return None, auto_reply(body)

    def auto_requests(self) -> List[Recorded]:
        """The requests answered by the unscripted code_interpreter behaviour."""
        with self._lock:
            return [r for r in self._records if r.auto]

    def _record(self, rec: Recorded) -> None:
        with self._arrived:
            self._records.append(rec)
            self._arrived.notify_all()

    def close(self) -> None:
        self.release_hangs()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeUpstream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1; streams use chunked transfer encoding (as OpenAI's do), so a connection that breaks
    mid-stream is an error for the client, not a clean end of the body. One request per connection."""
    upstream: FakeUpstream
    protocol_version = "HTTP/1.1"
    server_version = "fake-upstream/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # --- plumbing -------------------------------------------------------------------------------

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _write(self, rec: Recorded, data: bytes) -> None:
        """One chunk of the chunked body."""
        self._raw(rec, b"%x\r\n%s\r\n" % (len(data), data))

    def _raw(self, rec: Recorded, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as e:
            rec.disconnected.set()
            raise _ClientGone() from e

    def _event(self, rec: Recorded, payload: Any) -> None:
        self._write(rec, b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, model: str, delta: Dict[str, Any], finish: Optional[str] = None) -> Dict[str, Any]:
        return {"id": self._cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def _usage(self, model: str, prompt: int, completion: int) -> Dict[str, Any]:
        return {"id": self._cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                         "total_tokens": prompt + completion}}

    def _client_closed(self) -> bool:
        """True once the peer has closed its side (it sends nothing else while we stream)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, OSError):
            return True

    # --- the endpoint ---------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        tag, reply = self.upstream._take(body) if path == "/v1/chat/completions" else (None, None)
        rec = Recorded(path=path, headers={k.lower(): v for k, v in self.headers.items()}, body=body, tag=tag,
                       reply=reply, received_at=time.time(), auto=tag is None and reply is not None)
        self.upstream._record(rec)
        try:
            if path != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"fake upstream: no route {path}", "type": "invalid_request_error",
                                           "param": None, "code": None}})
            elif reply is None:
                self._json(400, {"error": {"message": f"fake upstream: no reply scripted for this request (tag {tag})",
                                           "type": "invalid_request_error", "param": None, "code": None}})
            elif isinstance(reply, Error):
                self._json(reply.status, {"error": {"message": reply.message, "type": "invalid_request_error",
                                                    "param": None, "code": None}})
            else:
                self._stream(rec, reply, (body or {}).get("model", "fake"))
        except _ClientGone:
            pass
        finally:
            rec.finished.set()

    def _stream(self, rec: Recorded, reply: Reply, model: str) -> None:
        self._cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        if isinstance(reply, Text):
            self._event(rec, self._chunk(model, {"role": "assistant", "content": ""}))
            for piece in reply.chunks:
                if reply.delay:
                    time.sleep(reply.delay)
                self._event(rec, self._chunk(model, {"content": piece}))
            self._event(rec, self._chunk(model, {}, reply.finish))
            self._event(rec, self._usage(model, *reply.usage()))
            self._write(rec, b"data: [DONE]\n\n")
            self._raw(rec, b"0\r\n\r\n")
        elif isinstance(reply, ToolCalls):
            self._event(rec, self._chunk(model, {"role": "assistant", "content": None}))
            for i, (name, arguments) in enumerate(reply.calls):
                upstream_id = f"call_up{uuid.uuid4().hex[:16]}"
                self._event(rec, self._chunk(model, {"tool_calls": [
                    {"index": i, "id": upstream_id, "type": "function", "function": {"name": name, "arguments": ""}}]}))
                n = max(1, reply.pieces)
                cuts = [len(arguments) * k // n for k in range(n + 1)]
                for piece in (arguments[a:b] for a, b in zip(cuts, cuts[1:])):
                    self._event(rec, self._chunk(model, {"tool_calls": [
                        {"index": i, "function": {"arguments": piece}}]}))
            self._event(rec, self._chunk(model, {}, "tool_calls"))
            self._event(rec, self._usage(model, *reply.usage()))
            self._write(rec, b"data: [DONE]\n\n")
            self._raw(rec, b"0\r\n\r\n")
        elif isinstance(reply, Drop):
            self._event(rec, self._chunk(model, {"role": "assistant", "content": ""}))
            for piece in reply.chunks:
                self._event(rec, self._chunk(model, {"content": piece}))
            self._abort()
        elif isinstance(reply, Hang):
            self._event(rec, self._chunk(model, {"role": "assistant", "content": ""}))
            for piece in reply.chunks:
                self._event(rec, self._chunk(model, {"content": piece}))
            deadline = time.monotonic() + reply.max_seconds
            while not reply.released.is_set() and time.monotonic() < deadline:
                if self._client_closed():
                    rec.disconnected.set()
                    return
            # released or timed out: break the stream
            self._abort()

    def _abort(self) -> None:
        """Reset the connection in the middle of the chunked body."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
