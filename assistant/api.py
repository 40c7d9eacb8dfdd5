"""The HTTP app over the one answer function: native routes under /api, OpenAI-compatible ones under /v1.

``create_api(bot)`` returns a FastAPI app; ``ui.py`` mounts the Gradio UI on the same app. This module
never imports the UI. Model calls are CPU-bound and synchronous, so every route that touches the
assistant runs in the threadpool; ``ServedAssistant`` (assistant/serving.py) lets asks run together while
ingest and remove run alone. The /v1 routes live in assistant/openai_compat.py, the error shapes in
assistant/api_errors.py.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant import openai_compat
from assistant.api_errors import ERRORS, ApiError, ErrorBody, error_of, error_response, install_error_handlers
from assistant.records import Answer, Question
from assistant.service import Assistant
from assistant.serving import Health, Served, ServedAssistant, SourceInfo, UploadReport, bearer, served_of

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PROTECTED_PREFIXES = ("/api/", "/v1/")


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


api = APIRouter(dependencies=[Depends(bearer)], responses=ERRORS)


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


# ---------------------------------------------------------------- public pages


public = APIRouter()

# /embed runs only its own script and stylesheet and talks only to this server; any site may frame it.
EMBED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors *")
EMBED_ASSETS = {"js": "text/javascript", "css": "text/css"}


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
    return HTMLResponse(_embed_template().replace("{{title}}", heading),
                        headers={"Content-Security-Policy": EMBED_CSP})


@public.get("/embed.{kind}", include_in_schema=False)
def embed_asset(kind: str) -> FileResponse:
    """The script and stylesheet of /embed (separate files, so its CSP needs no 'unsafe-inline')."""
    if kind not in EMBED_ASSETS:
        raise ApiError(404, f"no embed asset /embed.{kind}", code="not_found")
    return FileResponse(STATIC / f"embed.{kind}", media_type=EMBED_ASSETS[kind],
                        headers={"X-Content-Type-Options": "nosniff"})


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
    install_error_handlers(app)
    app.include_router(api)
    app.include_router(openai_compat.router)
    app.include_router(public)
    upload_limit = int(s.max_upload_mb * 1024 * 1024) + 64 * 1024  # room for the multipart envelope
    app.add_middleware(ApiGuard, keys=s.api_keys, max_body=s.max_request_kb * 1024, max_upload=upload_limit)
    # Outermost, so 401 and 413 answers carry CORS headers too; with it, Gradio adds no CORS policy of its own.
    app.add_middleware(
        CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
    )
    return app
