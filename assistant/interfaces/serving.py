"""What the API and the UI share while serving one collection: a ``ServedAssistant`` over one ``Assistant``.

It holds the core's parts (the assistant, its ``Library`` of documents, the detached answer stream) and
adds what only serving needs: the API's response models, request limits and the health probe. The
``Portal`` (portal.py) holds one per collection, with the keys and metrics they share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel, Field

from assistant.ingestion import ProgressCallback
from assistant.interfaces.http_errors import ApiError
from assistant.interfaces.observability import Telemetry
from assistant.library import Library
from assistant.llm import LLMError
from assistant.records import DEFAULT_COLLECTION, Answer, AnswerEvent, Message, StreamEvent, source_id
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.streaming import detached
from store.manifest import SourceEntry

log = logging.getLogger(__name__)

class SourceInfo(BaseModel):
    id: str = Field(description="Stable id for DELETE /api/sources/{id}.")
    source: str
    name: str
    title: str
    chunks: int
    ingested_at: str
    uploaded: bool = Field(description="Stored under data_dir/uploads by an upload.")
    kind: str = Field("", description="File type: .md, .txt, .html, .pdf, .docx, ...")
    pages: int | None = Field(None, description="PDFs: pages with text.")
    sections: int = Field(0, description="Sections its chunks come from.")
    warnings: list[str] = Field(default_factory=list, description="What the loader could not read faithfully.")
    link: str = Field(description="The stored original: GET it with the same auth as the API.")


class FailedFile(BaseModel):
    file: str
    message: str


class UploadReport(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    failed: list[FailedFile]
    chunks: int
    sources: list[SourceInfo] = Field(description="The uploaded documents as now stored.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    store_reachable: bool
    chunks: int | None = None
    sources: int | None = None
    model: str
    answer_backend: str = "extractive"
    llm_reachable: bool | None = None  # None: no language model configured


class ServedAssistant:
    """What every route and the UI share: one Assistant, its Library of documents, and the HTTP limits.

    Asks run together and beside a write; writes run alone (``Library``). Records come out as the API's
    models; domain errors pass through untouched (``http_errors`` maps them).
    """

    def __init__(self, bot: Assistant, settings: Settings | None = None, lock: threading.Lock | None = None,
                 telemetry: Telemetry | None = None) -> None:
        self.bot = bot
        self.settings: Settings = settings or bot.settings  # serving settings: keys, limits, titles
        self.library = Library(bot, int(self.settings.serving.max_upload_mb * 1024 * 1024), lock)
        self.telemetry = telemetry or Telemetry(lambda: {bot.name: bot})  # a Portal gives its shared one

    @property
    def name(self) -> str:
        """The collection served."""
        return self.bot.name

    def _linked(self, answer: Answer) -> Answer:
        """Citation links of a named collection name it: ``/api/sources/ID/file?collection=hr#page=3``."""
        if self.name == DEFAULT_COLLECTION or not answer.citations:
            return answer
        cited = [c.model_copy(update={"link": _with_collection(c.link, self.name)}) for c in answer.citations]
        return answer.model_copy(update={"citations": cited})

    @property
    def model_id(self) -> str:
        return self.settings.serving.served_model

    # ------------------------------------------------------------ asking

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        started = time.perf_counter()
        answer = self.bot.ask(question, history)
        self.telemetry.observe_answer(answer, time.perf_counter() - started, self.name)
        return self._linked(answer)

    def ask_events(self, question: str, history: Sequence[Message] = ()) -> Iterator[StreamEvent]:
        """The answer as it is written: TokenEvents, then an AnswerEvent (or an ErrorEvent).

        Raises QuestionError at once for an unusable question; the answer then runs to its end in a
        thread of its own, so a client that goes away does not cut it short halfway.
        """
        self.bot.validate_question(question)
        return self._observed(detached(self.bot.ask_stream(question, history), label=question))

    def _observed(self, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        for event in events:
            if isinstance(event, AnswerEvent):
                self.telemetry.observe_answer(event.answer, time.perf_counter() - started, self.name)
                event = AnswerEvent(self._linked(event.answer))
            yield event

    def check_history(self, messages: int) -> None:
        if messages > self.settings.serving.max_request_messages:
            raise ApiError(422, f"the history has {messages} messages; the limit is "
                                f"{self.settings.serving.max_request_messages}", "history_too_long")

    # ------------------------------------------------------------ sources

    def sources(self) -> list[SourceInfo]:
        return [self._info(e) for e in self.library.sources()]

    def _info(self, entry: SourceEntry) -> SourceInfo:
        path = Path(entry.source)
        sid = source_id(entry.source)
        return SourceInfo(id=sid, source=entry.source, name=path.name, title=entry.title, chunks=entry.chunks,
                          ingested_at=entry.ingested_at, uploaded=self.library.uploaded(entry),
                          kind=entry.kind or path.suffix.lower(), pages=entry.pages, sections=entry.sections,
                          warnings=list(entry.warnings),
                          link=_with_collection(f"/api/sources/{sid}/file", self.name))

    def original(self, key: str) -> Path:
        return self.library.original(key)

    def ingest_uploads(self, files: Sequence[tuple[str, BinaryIO]], progress: ProgressCallback | None = None,
                       actor: str = "local") -> UploadReport:
        outcome = self.library.add_uploads(files, progress, actor)
        report = outcome.report
        self.telemetry.observe_ingest(report)
        return UploadReport(added=report.added, updated=report.updated, unchanged=report.unchanged,
                            failed=[FailedFile(file=Path(f).name, message=m) for f, m in report.failed],
                            chunks=report.chunks, sources=[self._info(e) for e in outcome.stored])

    def remove(self, key: str, actor: str = "local") -> SourceInfo | None:
        """Remove a source by its id or by a name matching one source; an uploaded file goes too."""
        entry = self.library.remove(key, actor)
        return self._info(entry) if entry else None

    # ------------------------------------------------------------ health

    def health(self) -> Health:
        loaded = getattr(self.bot.embedder, "model", None) is not None
        try:
            chunks, sources = self.bot.collection.count(), len(self.bot.sources())
        except Exception as exc:  # any failure here means "not reachable"; the probe must still answer
            log.warning("health: store not reachable: %s", exc)
            return Health(status="unavailable", model_loaded=loaded, store_reachable=False, model=self.model_id)
        llm_ok = self._llm_reachable()
        status = "ok" if loaded and llm_ok is not False else "unavailable"
        return Health(status=status, model_loaded=loaded, store_reachable=True, chunks=chunks, sources=sources,
                      model=self.model_id, answer_backend=self.bot.settings.llm.backend, llm_reachable=llm_ok)

    def _llm_reachable(self) -> bool | None:
        if self.bot.backend is None:
            return None
        try:
            self.bot.backend.check()
        except LLMError as exc:
            log.warning("health: language model not reachable: %s", exc)
            return False
        return True


def _with_collection(link: str | None, name: str) -> str | None:
    """A link to one of our source routes with ``?collection=name`` before its fragment."""
    if not link or name == DEFAULT_COLLECTION or not link.startswith("/api/sources/"):
        return link
    path, hash_, fragment = link.partition("#")
    return f"{path}?collection={name}{hash_}{fragment}"
