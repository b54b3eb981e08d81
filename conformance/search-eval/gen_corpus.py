#!/usr/bin/env python3
"""Build the search-eval corpus from documentation shipped with CPython 3.11 (no vendored text).

Documents: every pydoc topic (pydoc_data/topics.py, one doc per topic) plus the docstring of every public
function of a fixed list of stdlib modules whose docstring is >= 150 chars. Output: docs/<id>.txt.
The pinned SHA-256 of the concatenated corpus guards against a different Python build: fail loudly.
"""
import hashlib, importlib, inspect, sys
from pathlib import Path

MODULES = ["shutil", "os.path", "json", "itertools", "functools", "textwrap", "subprocess", "tempfile",
           "glob", "fnmatch", "random", "statistics", "math", "base64", "hashlib", "zlib", "gzip", "csv",
           "heapq", "bisect", "copy", "re", "time", "datetime", "urllib.parse", "secrets", "uuid"]
PINNED_SHA256 = None  # set below after first measurement; see README


def build() -> dict:
    import pydoc_data.topics as t
    docs = {f"topic.{k}": v for k, v in sorted(t.topics.items())}
    for m in MODULES:
        mod = importlib.import_module(m)
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or not callable(obj):
                continue
            if getattr(obj, "__module__", None) not in (m, mod.__name__) and not inspect.isbuiltin(obj):
                continue
            doc = inspect.getdoc(obj) or ""
            if len(doc) >= 150:
                docs[f"{m}.{name}"] = f"{m}.{name}\n\n{doc}\n"
    return docs


def digest(docs: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(docs):
        h.update(k.encode() + b"\0" + docs[k].encode() + b"\0")
    return h.hexdigest()


if __name__ == "__main__":
    docs = build()
    d = digest(docs)
    pin = (Path(__file__).parent / "corpus.sha256").read_text().split()[0] if (Path(__file__).parent / "corpus.sha256").exists() else None
    if "--pin" in sys.argv:
        (Path(__file__).parent / "corpus.sha256").write_text(f"{d}  python {sys.version.split()[0]} {len(docs)} docs\n")
    elif pin != d:
        sys.exit(f"corpus hash {d} != pinned {pin} (python {sys.version.split()[0]}); questions were judged on the pinned corpus")
    out = Path(sys.argv[-1]) if len(sys.argv) > 1 and not sys.argv[-1].startswith("--") else Path(__file__).parent / "docs"
    out.mkdir(parents=True, exist_ok=True)
    for k, v in docs.items():
        (out / f"{k}.txt").write_text(v)
    print(f"{len(docs)} docs -> {out} (sha256 {d})")
