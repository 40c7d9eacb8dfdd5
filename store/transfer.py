"""Backup and restore: a collection as one gzipped JSON-lines file (sources, then chunks).

Vectors are not exported: import re-embeds the chunks with the model in use, so a backup stays
valid across model versions and is a fraction of the store's size.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from ingest.records import Chunk, Document
from store.collection import Collection
from store.serialize import chunk_from_row, chunk_to_row

FORMAT = "grounded-assistant-export"
VERSION = 1


class TransferError(ValueError):
    """The file is not an export this version can read."""


def export_collection(collection: Collection, path: Path) -> tuple[int, int]:
    """Write every source and chunk; returns (sources, chunks)."""
    entries = collection.manifest.load()
    ids = [cid for entry in entries.values() for cid in entry.chunk_ids]
    chunks = {c.id: c for c in collection.keyword.get(ids)}
    missing = [cid for cid in ids if cid not in chunks]
    if missing:
        chunks.update((c.id, c) for c in collection.dense.get(missing))
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
        for entry in entries.values():
            row = {"type": "source", "source": entry.source, "title": entry.title,
                   "content_hash": entry.content_hash, "chunking": entry.chunking, "chunk_ids": entry.chunk_ids}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        for cid in ids:
            if cid in chunks:
                out.write(json.dumps({"type": "chunk", **chunk_to_row(chunks[cid])}, ensure_ascii=False) + "\n")
    return len(entries), len(chunks)


def import_collection(collection: Collection, path: Path) -> tuple[int, int]:
    """Add an export's sources and chunks (re-embedded); returns (sources, chunks) imported."""
    sources: dict[str, dict] = {}
    chunks: dict[str, Chunk] = {}
    for row in _rows(path):
        if row.get("type") == "source":
            sources[row["source"]] = row
        elif row.get("type") == "chunk":
            chunk = chunk_from_row(row)
            chunks[chunk.id] = chunk
    imported = 0
    for chunking in sorted({row.get("chunking", "") for row in sources.values()}):
        batch = [
            (Document(src, "", row["title"], content_hash=row["content_hash"]),
             [chunks[cid] for cid in row["chunk_ids"] if cid in chunks])
            for src, row in sources.items() if row.get("chunking", "") == chunking
        ]
        results = collection.put(batch, chunking)
        imported += sum(r.chunks for r in results if r.status != "unchanged")
    return len(sources), imported


def _rows(path: Path) -> Iterator[dict]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            header = json.loads(next(lines, "{}"))
            if header.get("format") != FORMAT or header.get("version") != VERSION:
                raise TransferError(f"{path}: not a {FORMAT} file (version {VERSION})")
            for line in lines:
                yield json.loads(line)
    except (OSError, EOFError, json.JSONDecodeError, gzip.BadGzipFile) as exc:
        raise TransferError(f"{path}: cannot read the export ({exc})") from exc
