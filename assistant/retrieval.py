"""Hybrid retrieval: chunk vectors, sentence vectors and BM25, fused by RRF, then a per-section cap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from store.fusion import reciprocal_rank_fusion
from store.protocol import SearchableStore
from store.records import Hit

if TYPE_CHECKING:
    from assistant.langchain_retriever import LangchainHybridRetriever
    from assistant.understanding import Question


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Stage 2's record: the hits, best first, and the stored vectors of their sentences (by chunk id)."""

    hits: tuple[Hit, ...]
    sentence_vectors: Mapping[str, np.ndarray]


class RetrievalConfig(BaseModel):
    """What retrieval hands the answerer (``Settings.retrieval``; env ``ASSISTANT_K``, ``ASSISTANT_CANDIDATES``...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(6, ge=1, le=50, description="Chunks handed to the answerer.")
    candidates: int = Field(20, ge=1, le=200, description="Hits taken from each index before fusion.")
    dense_weight: float = Field(1.0, ge=0, description="RRF weight of the chunk-vector ranking.")
    sentence_weight: float = Field(1.0, ge=0, description="RRF weight of the best-sentence-vector ranking.")
    keyword_weight: float = Field(1.0, ge=0, description="RRF weight of the BM25 ranking.")
    per_section: int = Field(2, ge=1, description="At most this many chunks of one section in the top k.")
    correct_spelling: bool = Field(True, description=(
        "Search misspelled question words as the collection spells them, and acronyms it only writes out with "
        "their long form (assistant/spelling.py)."))


def cap_per_section(hits: Sequence[Hit], per_section: int, k: int) -> list[Hit]:
    """Top ``k`` hits with at most ``per_section`` from one (source, section); re-ranked from 1.

    When the cap leaves fewer than ``k``, the best capped-out hits fill the remaining slots.
    """
    taken: list[Hit] = []
    spill: list[Hit] = []
    per: Counter[tuple[str, str]] = Counter()
    for hit in hits:
        key = (hit.chunk.source, hit.chunk.section)
        if per[key] < per_section:
            per[key] += 1
            taken.append(hit)
        else:
            spill.append(hit)
        if len(taken) == k:
            break
    taken.extend(spill[: k - len(taken)])
    return [Hit(h.chunk, h.score, rank) for rank, h in enumerate(taken, start=1)]


class HybridRetriever:
    def __init__(self, collection: SearchableStore, config: RetrievalConfig) -> None:
        self.collection = collection
        self.config = config

    def gather(self, question: Question) -> Retrieved:
        """Stage 2: the hits of every search the question needs, with their sentence vectors."""
        hits = self.retrieve(*question.queries)
        return Retrieved(tuple(hits), self.collection.sentence_vectors([h.chunk for h in hits]))

    def retrieve(self, query: str, *more_queries: str) -> list[Hit]:
        """Hits for ``query``; the rankings of ``more_queries`` (parts of a question) join the fusion."""
        c = self.config
        rankings, weights = [], []
        for text in (query, *more_queries):
            rankings += [
                self.collection.search_chunks(text, c.candidates),
                self.collection.search_sentences(text, c.candidates),
                self.collection.search_keywords(text, c.candidates),
            ]
            weights += [c.dense_weight, c.sentence_weight, c.keyword_weight]
        fused = reciprocal_rank_fusion(rankings, weights)
        return cap_per_section(fused, c.per_section, c.k + len(more_queries))

    def as_langchain(self) -> LangchainHybridRetriever:
        """This retriever as a langchain ``BaseRetriever``; langchain's runnables load only here (they cost a
        cold CLI call most of a second)."""
        from assistant.langchain_retriever import LangchainHybridRetriever

        return LangchainHybridRetriever(hybrid=self)
