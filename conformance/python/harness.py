"""Shared by the conformance suites' conftests (v1 here, v2 in ../python-v2): the assistd server
process, and the log that collects spec violations seen by httpx response hooks.

A conftest cannot be imported cleanly by another directory's conftest, hence this module.
The v1 suite runs with `httpx` (openai 1.20.0); the v2 suite with `httpx2` (openai 3.x), which
keeps httpx's API: whichever is installed is used.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

try:
    import httpx2 as httpx
except ImportError:  # the v1 venv
    import httpx

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "assistd"
KEY_A = "sk-test-a"
KEY_B = "sk-test-b"
STARTUP_TIMEOUT = float(os.environ.get("ASSISTD_STARTUP_TIMEOUT", "30"))
SANDBOX_PYTHON_VAR = "ASSISTD_TEST_SANDBOX_PYTHON"
SANDBOX_REQUIRED_VAR = "ASSISTD_TEST_SANDBOX"
LISTENING_RE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


class ValidationLog:
    def __init__(self) -> None:
        self.failures: List[str] = []
        self.checked = 0
        self.lock = threading.Lock()

    def add(self, msg: str) -> None:
        with self.lock:
            self.failures.append(msg)

    def take(self) -> List[str]:
        with self.lock:
            out, self.failures = self.failures, []
            return out


class Server:
    def __init__(self, binary: Path, data_dir: Path, log_dir: Path, keys: str = f"{KEY_A},{KEY_B}",
                 settings: Optional[Dict[str, str]] = None):
        """`settings`: ASSISTD_* variables for this process (default ASSISTD_WORKERS=0: API only)."""
        self.binary = binary
        self.data_dir = data_dir
        self.stdout_log = log_dir / "stdout.log"
        self.stderr_log = log_dir / "stderr.log"
        # Only the settings given here: a developer's ASSISTD_WORKERS / ASSISTD_UPSTREAM_URL / ASSISTD_CONFIG
        # must not change what the suite tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTD_")}
        env["ASSISTD_WORKERS"] = "0"
        # Lexical file_search unless a test asks for embeddings: the built-in embedding model
        # would otherwise be fetched into every fresh data directory.
        env["ASSISTD_EMBEDDINGS_ENABLED"] = "false"
        # The code_interpreter sandbox's Python, when the test command installed it.
        sandbox_python = os.environ.get(SANDBOX_PYTHON_VAR)
        if sandbox_python:
            env["ASSISTD_CODE_INTERPRETER_PYTHON"] = sandbox_python
        env.update(settings or {})
        env["ASSISTD_API_KEYS"] = keys
        env["RUST_LOG"] = "warn"
        self._stderr = open(self.stderr_log, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, env=env,
        )
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self._reader.start()
        self.root_url = self._wait_listening()
        self.base_url = self.root_url + "/v1"
        self._wait_healthy()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        with open(self.stdout_log, "w") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace")
                log.write(line)
                log.flush()
                self._lines.put(line)
        self._lines.put(None)

    def _logs(self) -> str:
        def tail(p: Path) -> str:
            try:
                return p.read_text(errors="replace")[-4000:]
            except OSError:
                return ""
        return f"--- stdout ---\n{tail(self.stdout_log)}\n--- stderr ---\n{tail(self.stderr_log)}"

    def _fail(self, msg: str) -> None:
        self.stop()
        raise RuntimeError(f"assistd ({self.binary}) {msg}\n{self._logs()}")

    def _wait_listening(self) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    self._fail(f"exited with code {self.proc.returncode} before listening")
                continue
            if line is None:
                self._fail(f"closed stdout (exit code {self.proc.poll()}) before printing 'listening on'")
            m = LISTENING_RE.search(line)
            if m:
                return m.group(1)
        self._fail(f"printed no 'listening on http://127.0.0.1:PORT' line within {STARTUP_TIMEOUT}s")
        raise AssertionError("unreachable")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(self.root_url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return
                last = f"status {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as e:
                last = repr(e)
            if self.proc.poll() is not None:
                self._fail(f"exited with code {self.proc.returncode} while waiting for /healthz")
            time.sleep(0.1)
        self._fail(f"GET /healthz did not return 200 within {STARTUP_TIMEOUT}s (last: {last})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()


def server_binary() -> Path:
    path = Path(os.environ.get("ASSISTD_BIN", str(DEFAULT_BIN)))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"assistd binary not found or not executable at {path} (set ASSISTD_BIN)", pytrace=False)
    return path


def require_sandbox() -> None:
    """Skip the calling test when the code_interpreter sandbox's Python is not installed
    (ASSISTD_TEST_SANDBOX_PYTHON unset), or fail it when ASSISTD_TEST_SANDBOX=required (CI)."""
    if os.environ.get(SANDBOX_PYTHON_VAR):
        return
    why = (f"{SANDBOX_PYTHON_VAR} is unset: no Python for the code_interpreter sandbox "
           f"(run scripts/install-sandbox and export {SANDBOX_PYTHON_VAR}=<its venv>, as scripts/test does)")
    if os.environ.get(SANDBOX_REQUIRED_VAR) == "required":
        pytest.fail(f"{SANDBOX_REQUIRED_VAR}=required, but {why}", pytrace=False)
    pytest.skip(why)
