"""Chunks to flat dicts and back: Chroma metadata and the keyword index's JSONL rows."""

from __future__ import annotations

import json
from typing import Any

from ingest.records import Chunk


def chunk_metadata(chunk: Chunk) -> dict[str, str | int]:
    """Flat, Chroma-compatible metadata (no None, no lists)."""
    return {
        "source": chunk.source,
        "title": chunk.title,
        "section": chunk.section,
        "start": chunk.start,
        "end": chunk.end,
        "page": -1 if chunk.page is None else chunk.page,
        "sentences": json.dumps(chunk.sentences),
        "extra": json.dumps(chunk.metadata, ensure_ascii=False),
    }


def chunk_from_metadata(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    page = int(meta.get("page", -1))
    return Chunk(
        id=chunk_id,
        source=str(meta["source"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        sentences=tuple(tuple(pair) for pair in json.loads(str(meta.get("sentences", "[]")))),
        page=None if page < 0 else page,
        metadata=json.loads(str(meta.get("extra", "{}"))),
    )


def chunk_to_row(chunk: Chunk) -> dict[str, Any]:
    return {"id": chunk.id, "text": chunk.text, **chunk_metadata(chunk)}


def chunk_from_row(row: dict[str, Any]) -> Chunk:
    return chunk_from_metadata(row["id"], row["text"], row)
