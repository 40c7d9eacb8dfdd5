"""The HTTP API over the one answer function: native routes under /api, OpenAI-compatible ones under /v1.

``create_api(bot)`` returns a FastAPI app; ``ui.py`` mounts the Gradio UI on the same app. This module
never imports the UI. Model calls are CPU-bound and synchronous, so every route that touches the
assistant runs in the threadpool; ``ServedAssistant`` lets asks run together while ingest and
remove run alone.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import logging
import os
import queue
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.llm import LLMError
from assistant.records import Answer, Citation, Question
from assistant.service import Assistant, QuestionError
from assistant.settings import Settings
from ingest.loaders import SUPPORTED_SUFFIXES, IngestError
from store.chroma_index import StoreUnavailableError
from store.collection import StoreBusyError
from store.manifest import SourceEntry

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PROTECTED_PREFIXES = ("/api/", "/v1/")


# ---------------------------------------------------------------- serving state shared by the API and the UI


class ApiError(Exception):
    """A request we refuse, with the HTTP status and the message the caller sees."""

    def __init__(self, status: int, message: str, code: str | None = None, type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.type = status, message, code, type_


class SourceInfo(BaseModel):
    id: str = Field(description="Stable id for DELETE /api/sources/{id}.")
    source: str
    name: str
    title: str
    chunks: int
    ingested_at: str
    uploaded: bool = Field(description="Stored under data_dir/uploads by an upload.")


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


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers so it cannot starve."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = self._writers_waiting = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


_PIECE_END = re.compile(r"\[\d+\]\s+(?=[^\s\[])")


def answer_pieces(text: str) -> list[str]:
    """Split an answer after each run of [n] markers: one sentence per piece; joined they are ``text``."""
    cuts = [0, *(m.end() for m in _PIECE_END.finditer(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def safe_upload_name(raw: str) -> str:
    """The file name an upload is stored under: no folders, no odd characters, a supported suffix."""
    base = re.split(r"[\\/]", raw or "")[-1]
    stem, dot, ext = base.rpartition(".")
    suffix = f".{ext.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        raise ApiError(415, f"{base or '(no name)'}: unsupported file type '{suffix or '(none)'}'; "
                            f"supported: {', '.join(SUPPORTED_SUFFIXES)}", "unsupported_file_type")
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "upload"
    return stem + suffix


def source_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:12]


class ServedAssistant:
    """One Assistant shared by every route and the UI: asks run together, ingest and remove run alone."""

    def __init__(self, bot: Assistant, settings: Settings | None = None, lock: ReadWriteLock | None = None) -> None:
        self.bot = bot
        self.settings: Settings = settings or bot.settings  # serving settings: keys, limits, titles
        self.uploads = (bot.settings.data_dir / "uploads").resolve()
        self.lock = lock or ReadWriteLock()

    @property
    def model_id(self) -> str:
        return self.settings.served_model

    def ask(self, question: str, history: Sequence[Any] = ()) -> Answer:
        with self.lock.reading():
            return self.bot.ask(question, history)

    def ask_events(self, question: str, history: Sequence[Any] = ()) -> Iterator[dict]:
        """The answer as it is written: ``token`` events, then ``answer`` (or ``error``).

        Raises QuestionError at once for an unusable question. The answer runs to its end in a thread of
        its own, so a client that goes away never leaves the read lock held.
        """
        self.bot.validate_question(question)
        events: queue.Queue[dict | None] = queue.Queue()

        def pump() -> None:
            try:
                with self.lock.reading():
                    for event in self.bot.ask_stream(question, history):
                        events.put(event)
            except Exception as exc:  # handed to the consumer, which shows it as an error event or message
                bug = error_of(exc)[0] == 500
                log.log(logging.ERROR if bug else logging.WARNING, "answering %r failed: %s", question, exc,
                        exc_info=bug)
                events.put({"type": "error", "error": exc})
            finally:
                events.put(None)

        threading.Thread(target=pump, name="ask-stream", daemon=True).start()
        return iter(events.get, None)

    def check_history(self, messages: int) -> None:
        if messages > self.settings.max_request_messages:
            raise ApiError(422, f"the history has {messages} messages; the limit is "
                                f"{self.settings.max_request_messages}", "history_too_long")

    def sources(self) -> list[SourceInfo]:
        with self.lock.reading():
            return [self._info(e) for e in self.bot.sources()]

    def _info(self, entry: SourceEntry) -> SourceInfo:
        path = Path(entry.source)
        return SourceInfo(id=source_id(entry.source), source=entry.source, name=path.name, title=entry.title,
                          chunks=entry.chunks, ingested_at=entry.ingested_at, uploaded=path.parent == self.uploads)

    def ingest_uploads(self, files: Sequence[tuple[str, BinaryIO]],
                       progress: Callable[[int, int, str], None] | None = None) -> UploadReport:
        """Store uploads under data_dir/uploads and ingest them; a file that fails leaves nothing behind."""
        if not files:
            raise ApiError(422, "no files in the upload", "invalid_request")
        names = [safe_upload_name(name) for name, _ in files]  # refuse before anything is written
        if len(set(names)) < len(names):
            raise ApiError(422, f"two files of the upload would be stored under one name: {names}", "duplicate_name")
        with self.lock.writing():
            self.uploads.mkdir(parents=True, exist_ok=True)
            staged: list[Path] = []
            try:
                for (_, reader), name in zip(files, names, strict=True):
                    staged.append(self._stage(reader, name))
            except BaseException:
                for part in staged:
                    part.unlink(missing_ok=True)
                raise
            targets = [self._promote(part) for part in staged]
            try:
                report = self.bot.ingest([t for t, _ in targets], progress=progress)
            except BaseException:
                self._rollback(targets, [str(t) for t, _ in targets])
                raise
            failed = [FailedFile(file=Path(f).name, message=m) for f, m in report.failed]
            self._rollback(targets, [f for f, _ in report.failed])
            if failed and len(failed) == len(targets):
                raise ApiError(422, "; ".join(f.message for f in failed), "ingest_failed")
            stored = {str(t) for t, _ in targets} - {f for f, _ in report.failed}
            infos = [self._info(e) for e in self.bot.sources() if e.source in stored]
        log.info("upload: %s", report.summary())
        return UploadReport(added=report.added, updated=report.updated, unchanged=report.unchanged,
                            failed=failed, chunks=report.chunks, sources=infos)

    def _stage(self, reader: BinaryIO, name: str) -> Path:
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        part = self.uploads / f".{uuid.uuid4().hex}.part"
        size = 0
        with part.open("wb") as out:
            while block := reader.read(1024 * 1024):
                size += len(block)
                if size > limit:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise ApiError(413, f"{name}: over the upload limit of {limit:,} bytes", "too_large")
                out.write(block)
        return part.rename(part.with_name(f"{part.name}~{name}"))

    def _promote(self, part: Path) -> tuple[Path, Path | None]:
        """Move a staged file to its name, keeping the previous version aside until ingest succeeds."""
        target = self.uploads / part.name.split("~", 1)[1]
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.prev")
            os.replace(target, backup)
        os.replace(part, target)
        return target, backup

    @staticmethod
    def _rollback(targets: Sequence[tuple[Path, Path | None]], failed: Sequence[str]) -> None:
        failed_set = {str(Path(f).resolve()) for f in failed}
        for target, backup in targets:
            if str(target.resolve()) in failed_set:
                target.unlink(missing_ok=True)
                if backup:
                    os.replace(backup, target)
            elif backup:
                backup.unlink(missing_ok=True)

    def remove(self, key: str) -> SourceInfo | None:
        """Remove a source by its id or by a name matching one source; an uploaded file goes too."""
        with self.lock.writing():
            entries = self.bot.sources()
            entry = next((e for e in entries if source_id(e.source) == key), None)
            if entry is None:
                resolved = self.bot.collection.resolve_source(key)
                entry = next((e for e in entries if e.source == resolved), None)
            if entry is None:
                return None
            info = self._info(entry)
            self.bot.collection.remove([entry.source])
            if info.uploaded:
                Path(entry.source).unlink(missing_ok=True)
        log.info("removed %s", entry.source)
        return info

    def health(self) -> Health:
        loaded = getattr(self.bot.embedder, "model", None) is not None
        try:
            chunks, sources = self.bot.collection.count(), len(self.bot.sources())
        except Exception as exc:  # any failure here means "not reachable"; the probe must still answer
            log.warning("health: store not reachable: %s", exc)
            return Health(status="unavailable", model_loaded=loaded, store_reachable=False, model=self.model_id)
        status = "ok" if loaded else "unavailable"
        return Health(status=status, model_loaded=loaded, store_reachable=True, chunks=chunks, sources=sources,
                      model=self.model_id)


# ---------------------------------------------------------------- errors


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape so OpenAI clients show the message."""

    error: ErrorDetail


def error_response(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(message=message, type=type_, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Invalid question (empty or too long)", 401: "Missing or wrong API key",
        413: "Request body or upload too large", 422: "Malformed request",
        502: "The language-model server failed", 503: "Store busy or unavailable",
    }.items()
}


def error_of(exc: Exception) -> tuple[int, ErrorBody, dict[str, str] | None]:
    """Status, body and headers for an exception raised while answering or ingesting."""
    known: dict[type, tuple[int, str, str]] = {
        QuestionError: (400, "invalid_request_error", "invalid_question"),
        IngestError: (422, "invalid_request_error", "ingest_failed"),
        StoreBusyError: (503, "server_error", "store_busy"),
        StoreUnavailableError: (503, "server_error", "store_unavailable"),
        LLMError: (502, "server_error", "llm_unavailable"),
    }
    if isinstance(exc, ApiError):
        return exc.status, ErrorBody(error=ErrorDetail(message=exc.message, type=exc.type, code=exc.code)), None
    for kind, (status, type_, code) in known.items():
        if isinstance(exc, kind):
            headers = {"Retry-After": "5"} if code == "store_busy" else None
            return status, ErrorBody(error=ErrorDetail(message=str(exc), type=type_, code=code)), headers
    return 500, ErrorBody(error=ErrorDetail(message="internal error; the server log has the details",
                                            type="server_error", code="internal")), None


def _install_error_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_of(exc)
        if status == 500:
            log.error("unexpected error", exc_info=exc)
        return JSONResponse(body.model_dump(), status_code=status, headers=headers)

    for kind in (ApiError, QuestionError, IngestError, StoreBusyError, StoreUnavailableError, LLMError, Exception):
        app.add_exception_handler(kind, known)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()[:5]]
        return error_response(422, "invalid request: " + "; ".join(problems), code="invalid_request")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), code=f"http_{exc.status_code}",
                              headers=getattr(exc, "headers", None))


# ---------------------------------------------------------------- auth and size limits


class ApiGuard:
    """API keys and body-size limits, checked before a request body is read.

    A plain ASGI middleware rather than a dependency: FastAPI parses (and spools) a multipart body
    before dependencies run, and a request without the right key must not touch anything.
    """

    def __init__(self, app: ASGIApp, keys: Sequence[str], max_body: int, max_upload: int) -> None:
        self.app, self.keys = app, [k.encode() for k in keys]
        self.max_body, self.max_upload = max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PROTECTED_PREFIXES) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.keys and not self._authorized(headers.get("authorization", b"")):
            response = error_response(401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                                      "authentication_error", "invalid_api_key", {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        limit = self.max_upload if path.rstrip("/") == "/api/sources" else self.max_body
        declared = headers.get("content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, _too_large(limit), code="too_large")(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        # compare with every key (no early exit) so the timing says nothing about which key nearly matched
        matches = [hmac.compare_digest(token, key) for key in self.keys]
        return scheme.lower() == b"bearer" and bool(token) and any(matches)


def _counting(receive: Receive, limit: int) -> Receive:
    """Bodies without a (truthful) Content-Length still stop at the limit."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise HTTPException(413, _too_large(limit))  # FastAPI re-raises HTTPExceptions from body parsing
        return message

    return wrapped


def _too_large(limit: int) -> str:
    return f"request body too large; the limit is {limit:,} bytes"


# ---------------------------------------------------------------- native API


bearer = HTTPBearer(auto_error=False, description="Needed when ASSISTANT_API_KEYS is set.")
api = APIRouter(dependencies=[Depends(bearer)], responses=ERRORS)


def served_of(request: Request) -> ServedAssistant:
    return request.app.state.served


Served = Annotated[ServedAssistant, Depends(served_of)]


@api.post("/api/ask", response_model=Answer, tags=["ask"])
def ask(body: Question, served: Served) -> Answer:
    """Answer one question from the stored documents; `history` holds earlier turns for follow-ups."""
    served.check_history(len(body.history))
    return served.ask(body.question, body.history)


@api.post(
    "/api/ask/stream", tags=["ask"], response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "`event: token` (data `{\"text\"}`) while the answer is written, then `event: answer` (data: the full "
        "Answer, which is authoritative: verification may drop generated sentences), or `event: error` "
        "(data: an ErrorBody). Errors found before the stream starts are JSON 4xx."
    )}},
)
async def ask_stream(body: Question, served: Served) -> EventSourceResponse:
    """The answer as server-sent events while it is written, then the full answer contract with its citations."""
    served.check_history(len(body.history))
    events = served.ask_events(body.question, body.history)

    def sse() -> Iterator[dict[str, str]]:
        for event in events:
            if event["type"] == "token":
                yield {"event": "token", "data": json.dumps({"text": event["text"]}, ensure_ascii=False)}
            elif event["type"] == "answer":
                yield {"event": "answer", "data": event["answer"].model_dump_json()}
            else:
                yield {"event": "error", "data": error_of(event["error"])[1].model_dump_json()}

    return EventSourceResponse(sse(), sep="\n")


@api.get("/api/sources", response_model=list[SourceInfo], tags=["sources"])
def list_sources(served: Served) -> list[SourceInfo]:
    return served.sources()


@api.post("/api/sources", response_model=UploadReport, tags=["sources"],
          responses={415: {"model": ErrorBody, "description": "Unsupported file type"}})
def upload_sources(files: Annotated[list[UploadFile], File(description="One or more documents to ingest.")],
                   served: Served) -> UploadReport:
    """Store uploads under data_dir/uploads (safe file names) and ingest them; re-uploading a name updates it."""
    return served.ingest_uploads([(f.filename or "", f.file) for f in files])


@api.delete("/api/sources/{source_id}", tags=["sources"], response_model=SourceInfo,
            responses={404: {"model": ErrorBody, "description": "No such source"}})
def delete_source(source_id: str, served: Served) -> SourceInfo:
    """Remove a source (by its id, or a file name matching one source) and all its chunks."""
    removed = served.remove(source_id)
    if removed is None:
        raise ApiError(404, f"no stored source matches {source_id!r}", code="not_found")
    return removed


# ---------------------------------------------------------------- OpenAI-compatible API


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat request; sampling options (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Word counts: the extractive answerer has no tokenizer of its own."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[Citation] = Field(description="What the [n] markers in the answer point to.")
    abstained: bool
    reason: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "grounded-assistant"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _split_chat(messages: Sequence[ChatMessageIn]) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; earlier user and assistant turns are the history."""
    if messages[-1].role != "user":
        raise ApiError(422, "the last message must have role 'user'", code="invalid_request")
    history = [{"role": m.role, "content": m.text()} for m in messages[:-1] if m.role in ("user", "assistant")]
    return messages[-1].text(), history


def _chunk(base: dict[str, Any], delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice], **extra}, ensure_ascii=False)


@api.post(
    "/v1/chat/completions", response_model=ChatCompletion, tags=["openai"],
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "With `stream: true`: `chat.completion.chunk` events, the last one with `finish_reason: stop` and "
        "`citations`, then `data: [DONE]`."
    )}},
)
async def chat_completions(body: ChatRequest, served: Served) -> Any:
    """OpenAI-compatible chat: the answer text carries [n] markers, `citations` says what they point to."""
    question, history = _split_chat(body.messages)
    served.check_history(len(history))
    answer = await run_in_threadpool(served.ask, question, history)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": served.model_id}
    if not body.stream:
        words = len(answer.answer.split())
        prompt = sum(len(m.text().split()) for m in body.messages)
        return ChatCompletion(
            **base, choices=[ChatChoice(message=ChatMessageOut(content=answer.answer))],
            usage=Usage(prompt_tokens=prompt, completion_tokens=words, total_tokens=prompt + words),
            citations=answer.citations, abstained=answer.abstained, reason=answer.reason,
        )

    def chunks() -> Iterator[str]:
        yield _chunk(base, {"role": "assistant", "content": ""})
        for piece in answer_pieces(answer.answer):
            yield _chunk(base, {"content": piece})
        cited = [c.model_dump() for c in answer.citations]
        yield _chunk(base, {}, "stop", citations=cited, abstained=answer.abstained, reason=answer.reason)
        yield "[DONE]"

    return EventSourceResponse(chunks(), sep="\n")


@api.get("/v1/models", response_model=ModelList, tags=["openai"])
def list_models(served: Served) -> ModelList:
    return ModelList(data=[ModelCard(id=served.model_id)])


@api.get("/v1/models/{model_id}", response_model=ModelCard, tags=["openai"],
         responses={404: {"model": ErrorBody, "description": "Unknown model"}})
def get_model(model_id: str, served: Served) -> ModelCard:
    if model_id != served.model_id:
        raise ApiError(404, f"unknown model {model_id!r}; this server serves {served.model_id!r}", code="not_found")
    return ModelCard(id=model_id)


# ---------------------------------------------------------------- public pages


public = APIRouter()


@public.get("/healthz", response_model=Health, tags=["health"],
            responses={503: {"model": Health, "description": "Model or store not usable"}})
def healthz(served: Served) -> Any:
    """Model loaded, store reachable, chunk count. Public: meant for load balancers and probes."""
    health = served.health()
    return health if health.status == "ok" else JSONResponse(health.model_dump(), status_code=503)


@lru_cache(maxsize=1)
def _embed_template() -> str:
    return (STATIC / "embed.html").read_text(encoding="utf-8")


@public.get("/embed", response_class=HTMLResponse, tags=["pages"])
def embed(request: Request, title: str | None = Query(None, max_length=200)) -> HTMLResponse:
    """A chat page without chrome for an <iframe>; it talks to /api/ask (a key may ride in `#key=...`)."""
    heading = html.escape(title or served_of(request).settings.embed_title)
    return HTMLResponse(_embed_template().replace("{{title}}", heading))


# ---------------------------------------------------------------- the app


def create_api(bot: Assistant | ServedAssistant) -> FastAPI:
    """The API app for one assistant. Add the UI on top of it (see ``ui.create_web_app``), never the reverse."""
    served = bot if isinstance(bot, ServedAssistant) else ServedAssistant(bot)
    s = served.settings
    app = FastAPI(
        title="Grounded assistant API", version="1.0",
        description="Answers only from your documents, with verbatim citations. See docs/api.md.",
    )
    app.state.served = served
    _install_error_handlers(app)
    app.include_router(api)
    app.include_router(public)
    upload_limit = int(s.max_upload_mb * 1024 * 1024) + 64 * 1024  # room for the multipart envelope
    app.add_middleware(ApiGuard, keys=s.api_keys, max_body=s.max_request_kb * 1024, max_upload=upload_limit)
    # Outermost, so 401 and 413 answers carry CORS headers too; with it, Gradio adds no CORS policy of its own.
    app.add_middleware(
        CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
    )
    return app
