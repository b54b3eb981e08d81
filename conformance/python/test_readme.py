"""The README's Python snippet, run as written against a server whose runs go to the built-in model.

The snippet is read from README.md (the block after the `snippet: built-in-model` marker); only its
base URL and API key are swapped for this test server's. The weights are the ones the test command
fetched (ASSISTD_TEST_MODEL), so this also checks that the binary loads them and answers a run with
the real model through the official SDK's polling helper.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import KEY_A, REPO_ROOT

MARKER = "<!-- snippet: built-in-model"
WEIGHTS = "SmolLM2-135M-Instruct.Q4_1.gguf"


def readme_snippet() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    after = text[text.index(MARKER):]
    m = re.search(r"```python\n(.*?)```", after, re.S)
    assert m, "no python block after the marker"
    return m.group(1)


@pytest.fixture(scope="module")
def model_server(server_factory):
    path = Path(os.environ.get("ASSISTD_TEST_MODEL")
                or REPO_ROOT / "target" / "test-data" / "models" / WEIGHTS)
    if not path.is_file():
        pytest.fail(f"the built-in model's weights are not at {path}: run "
                    "`assistd fetch-model --data-dir target/test-data` (the test command does)", pytrace=False)
    return server_factory({
        "ASSISTD_WORKERS": "2",
        "ASSISTD_LOCAL_MODEL_PATH": str(path),
        "ASSISTD_LOCAL_MODEL_THREADS": "1",
        "ASSISTD_LOCAL_MODEL_SEED": "5",
        "ASSISTD_POLL_AFTER_MS": "50",
    })


def test_the_readme_snippet_gets_an_answer_from_the_built_in_model(model_server, capsys):
    code = readme_snippet()
    for old, new in (('"http://127.0.0.1:8080/v1"', repr(model_server.base_url)),
                     ('"any-key-in-open-mode"', repr(KEY_A))):
        assert old in code, f"the README snippet no longer contains {old}"
        code = code.replace(old, new)
    exec(compile(code, "README.md (snippet)", "exec"), {"__name__": "readme_snippet"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "completed", lines
    assert "".join(lines[1:]).strip(), f"an empty reply: {lines}"
