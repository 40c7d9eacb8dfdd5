"""What the API and the UI share while serving: one ``ServedAssistant`` over one ``Assistant``.

Asks never wait for a write (the store is safe to read while it is written); uploads and removals run one
at a time (``write_lock``), across processes too (the store's file lock). Uploads are stored under
``data_dir/uploads`` with safe names, and a file that fails to ingest leaves nothing behind. The FastAPI
dependencies every protected router uses (``bearer``, ``Served``) live here too.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from assistant.api_errors import ApiError, error_of
from assistant.ingestion import ProgressCallback
from assistant.llm import LLMError
from assistant.records import Answer, ErrorEvent, Message, StreamEvent, source_id
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.uploads import UploadArea, UploadRefused, stored_names
from store.manifest import SourceEntry

log = logging.getLogger(__name__)

# UploadRefused.kind -> (status, code)
_REFUSALS = {"unsupported": (415, "unsupported_file_type"), "empty": (422, "invalid_request"),
             "duplicate": (422, "duplicate_name"), "too_large": (413, "too_large")}


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
    """One Assistant shared by every route and the UI: asks run together and beside a write; writes run alone."""

    def __init__(self, bot: Assistant, settings: Settings | None = None, lock: threading.Lock | None = None) -> None:
        self.bot = bot
        self.settings: Settings = settings or bot.settings  # serving settings: keys, limits, titles
        self.area = UploadArea(bot.settings.data_dir / "uploads")
        self.write_lock = lock or threading.Lock()  # uploads and removals run one at a time
        self.area.recover(bot.collection.manifest.load())  # uploads a killed process left halfway

    @property
    def model_id(self) -> str:
        return self.settings.served_model

    # ------------------------------------------------------------ asking

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        return self.bot.ask(question, history)

    def ask_events(self, question: str, history: Sequence[Message] = ()) -> Iterator[StreamEvent]:
        """The answer as it is written: TokenEvents, then an AnswerEvent (or an ErrorEvent).

        Raises QuestionError at once for an unusable question. The answer runs to its end in a thread of
        its own, so a client that goes away does not cut it short halfway.
        """
        self.bot.validate_question(question)
        events: queue.Queue[StreamEvent | None] = queue.Queue()

        def pump() -> None:
            try:
                for event in self.bot.ask_stream(question, history):
                    events.put(event)
            except Exception as exc:  # handed to the consumer, which shows it as an error event or message
                bug = error_of(exc)[0] == 500
                log.log(logging.ERROR if bug else logging.WARNING, "answering %r failed: %s", question, exc,
                        exc_info=bug)
                events.put(ErrorEvent(exc))
            finally:
                events.put(None)

        threading.Thread(target=pump, name="ask-stream", daemon=True).start()
        return iter(events.get, None)

    def check_history(self, messages: int) -> None:
        if messages > self.settings.max_request_messages:
            raise ApiError(422, f"the history has {messages} messages; the limit is "
                                f"{self.settings.max_request_messages}", "history_too_long")

    # ------------------------------------------------------------ sources

    def sources(self) -> list[SourceInfo]:
        return [self._info(e) for e in self.bot.sources()]

    def _info(self, entry: SourceEntry) -> SourceInfo:
        path = Path(entry.source)
        sid = source_id(entry.source)
        return SourceInfo(id=sid, source=entry.source, name=path.name, title=entry.title, chunks=entry.chunks,
                          ingested_at=entry.ingested_at, uploaded=self.area.holds(path),
                          kind=entry.kind or path.suffix.lower(), pages=entry.pages, sections=entry.sections,
                          warnings=list(entry.warnings), link=f"/api/sources/{sid}/file")

    def original(self, key: str) -> Path:
        """The stored file of a source (by id), for the route that opens citations; ApiError 404 if none."""
        entry = _by_id(self.bot.sources(), key)
        path = Path(entry.source) if entry else None
        if path is None or not path.is_file():
            raise ApiError(404, f"no stored file for source {key!r}", code="not_found")
        return path

    def ingest_uploads(self, files: Sequence[tuple[str, BinaryIO]],
                       progress: ProgressCallback | None = None) -> UploadReport:
        """Stage uploads, ingest them, then move into place those whose ingest committed (uploads.py)."""
        try:
            names = stored_names([name for name, _ in files])  # refuse before anything is written
            with self.write_lock, self.area.staging([r for _, r in files], names, self._upload_limit) as staged:
                try:
                    report = self.bot.ingest_as(staged.pairs(self.area.root), progress=progress)
                finally:  # also after a failure halfway: what committed is promoted, the rest dropped
                    self.area.settle(staged, self.bot.collection.manifest.load())
        except UploadRefused as exc:
            status, code = _REFUSALS[exc.kind]
            raise ApiError(status, str(exc), code) from exc
        failed = [FailedFile(file=Path(f).name, message=m) for f, m in report.failed]
        if failed and len(failed) == len(names):
            raise ApiError(422, "; ".join(f.message for f in failed), "ingest_failed")
        stored = {str(self.area.root / name) for name in names} - {f for f, _ in report.failed}
        infos = [self._info(e) for e in self.bot.sources() if e.source in stored]
        log.info("upload: %s", report.summary())
        return UploadReport(added=report.added, updated=report.updated, unchanged=report.unchanged,
                            failed=failed, chunks=report.chunks, sources=infos)

    @property
    def _upload_limit(self) -> int:
        return int(self.settings.max_upload_mb * 1024 * 1024)

    def remove(self, key: str) -> SourceInfo | None:
        """Remove a source by its id or by a name matching one source; an uploaded file goes too."""
        with self.write_lock:
            entry = self._find(key)
            if entry is None:
                return None
            info = self._info(entry)
            self.bot.collection.remove([entry.source])
            if info.uploaded:  # after its chunks: a crash in between leaves an orphan file, which doctor finds
                Path(entry.source).unlink(missing_ok=True)
        log.info("removed %s", entry.source)
        return info

    def _find(self, key: str) -> SourceEntry | None:
        entries = self.bot.sources()
        entry = _by_id(entries, key)
        if entry is None:
            resolved = self.bot.collection.resolve_source(key)
            entry = next((e for e in entries if e.source == resolved), None)
        return entry

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
                      model=self.model_id, answer_backend=self.bot.settings.llm, llm_reachable=llm_ok)

    def _llm_reachable(self) -> bool | None:
        if self.bot.backend is None:
            return None
        try:
            self.bot.backend.check()
        except LLMError as exc:
            log.warning("health: language model not reachable: %s", exc)
            return False
        return True


def _by_id(entries: Sequence[SourceEntry], key: str) -> SourceEntry | None:
    return next((e for e in entries if source_id(e.source) == key), None)


# ---------------------------------------------------------------- FastAPI dependencies of the protected routers

bearer = HTTPBearer(auto_error=False, description="Needed when ASSISTANT_API_KEYS is set.")


def served_of(request: Request) -> ServedAssistant:
    return request.app.state.served


Served = Annotated[ServedAssistant, Depends(served_of)]
