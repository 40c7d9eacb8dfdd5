"""The small interface every chunk index implements; one contract test class runs on each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ingest.records import Chunk
from store.records import Hit


@runtime_checkable
class ChunkIndex(Protocol):
    def add(self, chunks: Sequence[Chunk]) -> None:
        """Store chunks; adding a chunk id that is already stored changes nothing."""

    def search(self, query: str, k: int) -> list[Hit]:
        """The best ``k`` chunks for ``query``, best first, ranks from 1."""

    def count(self) -> int:
        """How many chunks are stored."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """The stored chunks with these ids, in the order asked; unknown ids are skipped."""
