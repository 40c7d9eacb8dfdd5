"""The one answer function: the CLI, the UI and the API all go through ``Assistant.ask``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.answering import Trace, extractive_pass, shown_text
from assistant.errors import QuestionError
from assistant.generative import (
    answer_messages,
    condense_with_model,
    lead_answer,
    lead_messages,
    repeats,
    verified_answer,
)
from assistant.ingestion import IngestReport, ProgressCallback, ingest_files, ingest_paths
from assistant.llm import build_backend
from assistant.off_topic import Thresholds
from assistant.prompts import Prompts, load_prompts
from assistant.questions import standalone_question
from assistant.records import DEFAULT_COLLECTION, Answer, AnswerEvent, Message, StageTime, StreamEvent, TokenEvent
from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from assistant.spelling import corrected, with_acronyms_spelled_out
from assistant.understanding import Question, understand
from assistant.verify import Verifier
from store.collection import Collection
from store.embeddings import Embedder
from store.manifest import SourceEntry
from store.records import Hit

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 name: str = DEFAULT_COLLECTION) -> None:
        self.name = name  # the collection's name (assistant/shelf.py); the default one holds the bundled article
        self.settings = settings or Settings()
        s = self.settings
        if embedder is not None and embedder.backend != s.embedding_backend:
            raise ValueError(f"the embedder runs the {embedder.backend!r} backend, the settings say "
                             f"{s.embedding_backend!r}")
        self.embedder = embedder or Embedder(s.model_path, backend=s.embedding_backend, cache_dir=s.model_cache)
        self.collection = Collection(s.data_dir, self.embedder, s.chroma_url, chroma_prefix=s.chroma_prefix)
        self.retriever = HybridRetriever(self.collection, s.retrieval)
        self.policy = s.answering
        self.thresholds = Thresholds(s.data_dir)  # the collection's own off-topic threshold (assistant/off_topic.py)
        self.chunking = s.chunking
        self.load_budget = s.loading
        self.backend = build_backend(s.llm)
        if self.backend is not None:
            self.prompts  # noqa: B018  (read now: a broken prompt file fails at start, not in an answer)
            self.verifier  # noqa: B018  (likewise its fitted support score, assistant/data/verifier_fit.json)

    @cached_property
    def verifier(self) -> Verifier:
        """Built when a generated answer is first judged: only a language model needs it, and the encoder's
        vocabulary it reads (``Embedder.whole_words``) is no start-up cost for the extractive path."""
        return Verifier(self.embedder.query_vector, self.embedder.encode, self.settings.verification,
                        known_words=self.embedder.whole_words)

    @cached_property
    def prompts(self) -> Prompts:
        """The prompt templates; only a language model needs them."""
        return load_prompts()

    def ask(self, question: str, history: Sequence[Message | dict] = ()) -> Answer:
        """Answer from the documents, with citations; raises QuestionError for unusable questions."""
        for event in self.ask_stream(question, history):
            if isinstance(event, AnswerEvent):
                return event.answer
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover

    def ask_stream(self, question: str, history: Sequence[Message | dict] = ()) -> Iterator[StreamEvent]:
        """Events: TokenEvent while the answer is written, then one AnswerEvent.

        Generated tokens are not yet verified: the final answer replaces them.
        """
        question, turns = self._prepared(question, history)
        clock = _StageClock()
        trace = self._extractive(question, turns, clock)
        extractive, standalone = trace.answer, trace.question.standalone
        hits, sentence_vectors = list(trace.retrieved.hits), trace.retrieved.sentence_vectors
        if self.backend is None or extractive.abstained:
            for citation in extractive.citations:
                yield TokenEvent(f"{shown_text(citation.quote)} [{citation.n}] ")
            yield AnswerEvent(extractive.model_copy(update={"timings": clock.timings}))
            return
        if self.settings.llm.role == "lead":
            yield from self._lead(standalone, extractive, hits, sentence_vectors, clock)
            return
        chunks = [h.chunk for h in hits][: self.settings.llm.passages]
        text = ""
        for piece in self.backend.stream(answer_messages(self.prompts, standalone, chunks)):
            text += piece
            yield TokenEvent(piece)
            if repeats(text):
                log.info("generation stopped: the model repeated itself")
                break
        clock.done("generate")
        generated, verdicts = verified_answer(text, chunks, self.verifier, sentence_vectors, self.backend.name)
        clock.done("verify")
        dropped = sum(v.verdict == "dropped" for v in verdicts)
        final = generated or extractive.model_copy(update={"dropped_sentences": dropped, "verdicts": verdicts})
        yield AnswerEvent(final.model_copy(update={"contexts": extractive.contexts, "standalone_question": standalone,
                                                   "timings": clock.timings}))

    def _lead(self, question: str, extractive: Answer, hits: Sequence[Hit], sentence_vectors: Mapping[str, np.ndarray],
              clock: _StageClock) -> Iterator[StreamEvent]:
        """The constrained role: one short sentence from the chosen evidence, verified, above the quotes."""
        by_id = {h.chunk.id: h.chunk for h in hits}
        chunks = [by_id[c.chunk_id] for c in extractive.citations]
        text = ""
        for piece in self.backend.stream(lead_messages(self.prompts, question, extractive.citations)):
            text += piece
            yield TokenEvent(piece)
            if "\n" in text.strip() or len(text) > 400:  # one sentence was asked for
                break
        clock.done("generate")
        final = lead_answer(text.strip().split("\n")[0], extractive, chunks, self.verifier, sentence_vectors,
                            self.backend.name)
        clock.done("verify")
        yield AnswerEvent(final.model_copy(update={"standalone_question": question, "timings": clock.timings}))

    def trace(self, question: str, history: Sequence[Message | dict] = ()) -> Trace:
        """The extractive answer with every stage's record (``assistant eval`` measures the stages through it)."""
        question, turns = self._prepared(question, history)
        return self._extractive(question, turns, _StageClock())

    def for_eval(self, question: str, history: Sequence[Message | dict] = ()) -> Answer | Trace:
        """What ``assistant eval`` asks: the stages' records without a language model, else the answer."""
        return self.trace(question, history) if self.backend is None else self.ask(question, history)

    def _prepared(self, question: str, history: Sequence[Message | dict]) -> tuple[str, list[Message]]:
        """The question checked (QuestionError), the store caught up, the history as the turns a rewrite reads."""
        question = self.validate_question(question)
        self.collection.follow_other_writers()  # an ingest in another process shows up at once
        # the Python API also takes OpenAI-shaped dicts; past this line history travels as Message only
        turns = [m if isinstance(m, Message) else Message.model_validate(m) for m in history]
        return question, turns[-self.settings.max_history_messages :] if self.settings.max_history_messages else []

    def _extractive(self, question: str, turns: Sequence[Message], clock: _StageClock) -> Trace:
        """Stages 1-5 without a language model: understand, retrieve, rank evidence, decide, answer."""
        asked = self.understand(question, turns)
        clock.done("understand")
        retrieved = self.retriever.gather(asked)
        clock.done("retrieve")
        policy = self.thresholds.policy(self.policy, self.collection)
        trace = extractive_pass(asked, retrieved, self.embedder.query_vector, policy)
        clock.done("select")
        return trace

    def understand(self, question: str, turns: Sequence[Message]) -> Question:
        """Stage 1: the question read once (its standalone form, spelled as the collection spells it: typos
        corrected, acronyms it only writes out followed by their long form; answer types, specifics, parts)."""
        search = self.standalone(question, turns)
        if self.retriever.config.correct_spelling:
            vocabulary = self.collection.vocabulary()
            search = corrected(search, vocabulary, self.embedder.whole_words)
            search = with_acronyms_spelled_out(search, vocabulary, self.collection.find_text)
        return understand(question, search)

    def standalone(self, question: str, turns: Sequence[Message]) -> str:
        """The question to search: a follow-up is rewritten with the conversation (model, else rules)."""
        rule_based = standalone_question(question, turns)
        if rule_based == question:
            return question
        rewrite = condense_with_model(self.backend, self.prompts, question, turns) if self.backend else None
        log.info("follow-up %r: rule rewrite %r, model rewrite %r", question, rule_based, rewrite)
        return rewrite or rule_based

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
        return ingest_paths(self.collection, paths, self.chunking, self.max_file_bytes, prune=prune,
                            progress=progress, budget=self.load_budget)

    def ingest_as(self, files: Sequence[tuple[Path, str]], progress: ProgressCallback | None = None) -> IngestReport:
        """Ingest each file recorded under another source name (uploads: staged file -> its final path)."""
        return ingest_files(self.collection, files, self.chunking, self.max_file_bytes, progress=progress,
                            budget=self.load_budget)

    @property
    def max_file_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1024 * 1024)

    def ensure_default_collection(self) -> IngestReport | None:
        """Ingest the bundled collection when the default store is empty (first start); a named collection
        starts empty."""
        if self.name != DEFAULT_COLLECTION or self.collection.sources():
            return None
        log.info("empty store: ingesting the default collection %s", self.settings.default_corpus)
        return self.ingest([self.settings.default_corpus])

    def sources(self) -> list[SourceEntry]:
        self.collection.follow_other_writers()
        return self.collection.sources()

    def remove(self, name: str) -> str | None:
        source = self.collection.resolve_source(name)
        if source is None:
            return None
        self.collection.remove([source])
        return source


class _StageClock:
    """Milliseconds per stage, each measured from the end of the stage before it."""

    def __init__(self) -> None:
        self.timings: list[StageTime] = []
        self._last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings.append(StageTime(stage=stage, ms=round((now - self._last) * 1000, 2)))
        self._last = now
