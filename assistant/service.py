"""The one answer function: the CLI, the UI and the API all go through ``Assistant.ask``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from assistant.answering import AnswerPolicy, extractive_answer
from assistant.ingestion import IngestReport, ProgressCallback, ingest_paths
from assistant.questions import QuestionProfile, profile, standalone_question, sub_questions
from assistant.records import Answer, Message
from assistant.retrieval import HybridRetriever, RetrievalConfig
from assistant.settings import Settings
from ingest.chunking import ChunkingConfig
from store.collection import Collection
from store.embeddings import Embedder
from store.manifest import SourceEntry

log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """A question we refuse to process (empty, too long); the message says why."""


class Assistant:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.embedder = embedder or Embedder(s.model_path)
        self.collection = Collection(s.data_dir, self.embedder, s.chroma_url)
        self.retriever = HybridRetriever(
            self.collection,
            RetrievalConfig(s.k, s.candidates, s.dense_weight, s.sentence_weight, s.keyword_weight, s.per_section),
        )
        self.policy = AnswerPolicy(min_evidence=s.min_evidence, max_sentences=s.max_sentences)
        self.chunking = ChunkingConfig(s.chunk_size, s.chunk_overlap)

    def ask(self, question: str, history: Sequence[Message | dict] = ()) -> Answer:
        question = self.validate_question(question)
        turns = [m if isinstance(m, Message) else Message.model_validate(m) for m in history]
        turns = turns[-self.settings.max_history_messages :] if self.settings.max_history_messages else []
        standalone = standalone_question(question, turns)
        if standalone != question:
            log.info("follow-up %r searched as %r", question, standalone)
        parts = sub_questions(question)
        part_queries = [f"{part} ({parts[0]})" for part in parts[1:]] if len(parts) > 1 else []
        hits = self.retriever.retrieve(standalone, *part_queries)
        sentence_vectors = self.collection.dense.sentence_vectors([h.chunk for h in hits])
        asked = profile(question) if standalone == question else _merge_profiles(question, standalone)
        return extractive_answer(asked, standalone, hits, self.embedder.query_vector, sentence_vectors, self.policy)

    def validate_question(self, question: str) -> str:
        cleaned = " ".join((question or "").split())
        if not cleaned:
            raise QuestionError("the question is empty")
        if len(cleaned) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(cleaned):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,}"
            )
        return cleaned

    def ingest(self, paths: Sequence[str | Path], prune: bool = False,
               progress: ProgressCallback | None = None) -> IngestReport:
        max_bytes = int(self.settings.max_file_mb * 1024 * 1024)
        return ingest_paths(self.collection, paths, self.chunking, max_bytes, prune=prune, progress=progress)

    def ensure_default_collection(self) -> IngestReport | None:
        """Ingest the bundled collection when the store is empty (first start)."""
        if self.collection.sources():
            return None
        log.info("empty store: ingesting the default collection %s", self.settings.default_corpus)
        return self.ingest([self.settings.default_corpus])

    def sources(self) -> list[SourceEntry]:
        return self.collection.sources()

    def remove(self, name: str) -> str | None:
        source = self.collection.resolve_source(name)
        if source is None:
            return None
        self.collection.remove([source])
        return source


def _merge_profiles(question: str, standalone: str) -> QuestionProfile:
    """A follow-up keeps its own answer type; its specifics and terms come from the rewrite."""
    own, merged = profile(question), profile(standalone)
    return QuestionProfile(question, own.expects, merged.specifics, merged.stems)
