"""The manifest held in a `chroma run` server (ASSISTANT_CHROMA_URL mode): size, save, load, revision check.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/manifest_size.py [SOURCES] [CHUNKS_PER_SOURCE]   # 1000 x 100

Starts its own server on a free loopback port in a temporary folder and stops it. Writes
bench/results/manifest_size.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from common import machine, percentile, write_json

from store.chroma_index import open_chroma_client
from store.chroma_server import chroma_server
from store.manifest import ChromaManifest, SourceEntry


def main() -> None:
    sources = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    per_source = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    entries = {
        f"/docs/{i}.md": SourceEntry(f"/docs/{i}.md", f"Document {i}", "h" * 64,
                                     tuple(uuid.uuid4().hex for _ in range(per_source)), "2026-01-01T00:00:00",
                                     "1200/300")
        for i in range(sources)
    }
    with tempfile.TemporaryDirectory(prefix="manifest-size-") as tmp, chroma_server(Path(tmp)) as url:
        manifest = ChromaManifest(open_chroma_client(url=url), "manifest")
        saves, loads, stamps = [], [], []
        for _ in range(3):
            started = time.perf_counter()
            manifest.save(entries)
            saves.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert len(manifest.load()) == sources
            loads.append(time.perf_counter() - started)
        for _ in range(50):
            started = time.perf_counter()
            manifest.stamp()
            stamps.append(time.perf_counter() - started)
    size = len(json.dumps({s: asdict(e) for s, e in entries.items()}, ensure_ascii=False).encode())
    result = {
        "machine": machine(), "sources": sources, "chunks": sources * per_source, "document_bytes": size,
        "save_s_median": round(sorted(saves)[1], 3), "load_s_median": round(sorted(loads)[1], 3),
        "stamp_ms_p50": round(percentile([s * 1000 for s in stamps], 50), 2),
    }
    path = write_json("manifest_size", result)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
