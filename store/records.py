"""What the store hands back: a Hit is a chunk found for a query, with its score and rank."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.records import Chunk


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float  # higher is better; meaning depends on the index (cosine, BM25, fused)
    rank: int  # 1-based position in the list it came from
