"""The store's two seams, each with contract tests (tests/test_store_contract.py).

``ChunkIndex``: the small interface every chunk index implements (Chroma, BM25); one contract test
class runs on each. ``SearchableStore``: what retrieval and answering read from a store (the three
rankings the retriever fuses, the stored sentence vectors, chunks by id); ``Collection`` implements it
in both storage modes, so nothing above the store reaches into its indexes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

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


@runtime_checkable
class SearchableStore(Protocol):
    """Read-only: every search gives at most ``k`` hits, best first, ranks from 1 (none for ``k <= 0``)."""

    def search_chunks(self, query: str, k: int) -> list[Hit]:
        """Chunks by the similarity of their vector to the query's (cosine scores)."""

    def search_sentences(self, query: str, k: int) -> list[Hit]:
        """Chunks by their best-matching sentence's vector: finds a fact a whole-chunk vector dilutes."""

    def search_keywords(self, query: str, k: int) -> list[Hit]:
        """Chunks by BM25 over title, section and text; a query with no indexed word finds nothing."""

    def vocabulary(self) -> Mapping[str, int]:
        """Each lower-case word of the stored chunks (letters only) and how many chunks hold it."""

    def find_text(self, pattern: re.Pattern[str], limit: int) -> list[str]:
        """Up to ``limit`` matches of ``pattern`` in the stored chunk texts (what an acronym stands for)."""

    def best_sentence_scores(self, queries: Sequence[str]) -> list[float]:
        """For each query, the cosine similarity of the closest stored sentence (0.0 in an empty store): how
        close the collection comes to a question (the off-topic calibration, assistant/off_topic.py)."""

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> Mapping[str, np.ndarray]:
        """chunk id -> (sentences, dimension) unit rows, for the chunks whose sentence vectors are stored."""

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """The stored chunks with these ids, in the order asked; unknown ids are skipped."""
