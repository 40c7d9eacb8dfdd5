"""The HTTP app over the one answer function: native routes under /api, OpenAI-compatible ones under /v1.

``create_api(bot)`` returns a FastAPI app; ``web.py`` mounts the Gradio UI on the same app. This module
never imports the UI. Model calls are CPU-bound and synchronous, so every route that touches the
assistant runs in the threadpool; ``ServedAssistant`` (serving.py) lets asks run together while
ingest and remove run alone. The /v1 routes live in openai_compat.py, the error shapes in
http_errors.py.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi import Path as FastApiPath
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST
from sse_starlette import EventSourceResponse
from starlette.routing import Match

from assistant.interfaces import openai_compat
from assistant.interfaces.access import COOKIE, AccessGuard, Limits, Sessions, login_page, parse_form, safe_next
from assistant.interfaces.http_errors import ERRORS, ApiError, ErrorBody, error_of, install_error_handlers
from assistant.interfaces.observability import RequestLog
from assistant.interfaces.portal import CallerOf, Portal, PortalOf, bearer, portal_of
from assistant.interfaces.rate_limits import CallerLimits, CallerQuota
from assistant.interfaces.serving import Health, ServedAssistant, SourceInfo, UploadReport
from assistant.records import COLLECTION_NAME, Answer, AnswerEvent, ErrorEvent, Question, TokenEvent
from assistant.service import Assistant
from assistant.shelf import CollectionInfo

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


# ---------------------------------------------------------------- native API


api = APIRouter(dependencies=[Depends(bearer)], responses=ERRORS)
CollectionParam = Annotated[str | None, Query(pattern=COLLECTION_NAME, description=(
    "The collection (default: the default one); one the key may not read is 404."))]


@api.get("/api/collections", response_model=list[CollectionInfo], tags=["collections"])
def list_collections(portal: PortalOf, caller: CallerOf) -> list[CollectionInfo]:
    """The collections this key may read, the default first, with their titles and example questions."""
    return portal.readable(caller)


@api.get("/api/collections/{name}", response_model=CollectionInfo, tags=["collections"],
         responses={404: {"model": ErrorBody, "description": "No such collection (or none this key may read)"}})
def get_collection(name: Annotated[str, FastApiPath(pattern=COLLECTION_NAME)], portal: PortalOf,
                   caller: CallerOf) -> CollectionInfo:
    """One collection's title, description and example questions (what /embed opens with)."""
    return portal.info(name, caller)


@api.post("/api/ask", response_model=Answer, tags=["ask"])
def ask(body: Question, portal: PortalOf, caller: CallerOf) -> Answer:
    """Answer one question from the stored documents; `history` holds earlier turns for follow-ups."""
    served = portal.open(body.collection, caller)
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
async def ask_stream(body: Question, portal: PortalOf, caller: CallerOf) -> EventSourceResponse:
    """The answer as server-sent events while it is written, then the full answer contract with its citations."""
    served = portal.open(body.collection, caller)
    served.check_history(len(body.history))
    events = served.ask_events(body.question, body.history)

    def sse() -> Iterator[dict[str, str]]:
        for event in events:
            match event:
                case TokenEvent(text=text):
                    yield {"event": "token", "data": json.dumps({"text": text}, ensure_ascii=False)}
                case AnswerEvent(answer=answer):
                    yield {"event": "answer", "data": answer.model_dump_json()}
                case ErrorEvent(error=error):
                    yield {"event": "error", "data": error_of(error)[1].model_dump_json()}

    return EventSourceResponse(sse(), sep="\n")


@api.get("/api/sources", response_model=list[SourceInfo], tags=["sources"])
def list_sources(portal: PortalOf, caller: CallerOf, collection: CollectionParam = None) -> list[SourceInfo]:
    return portal.open(collection, caller).sources()


@api.post("/api/sources", response_model=UploadReport, tags=["sources"],
          responses={415: {"model": ErrorBody, "description": "Unsupported file type"}})
def upload_sources(files: Annotated[list[UploadFile], File(min_length=1, description="One or more documents.")],
                   portal: PortalOf, caller: CallerOf, collection: CollectionParam = None) -> UploadReport:
    """Store uploads under data_dir/uploads (safe file names) and ingest them; re-uploading a name updates it.

    A named collection that does not exist yet is made, for a key that may write to it."""
    served = portal.open(collection, caller, write=True, create=True)
    return served.ingest_uploads([(f.filename or "", f.file) for f in files], actor=caller.id)


ORIGINAL_TYPES = {".pdf": "application/pdf", ".html": "text/html", ".htm": "text/html", ".md": "text/markdown",
                  ".markdown": "text/markdown", ".txt": "text/plain",
                  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@api.get("/api/sources/{source_id}/file", tags=["sources"], response_class=FileResponse,
         responses={200: {"content": {t: {} for t in sorted(set(ORIGINAL_TYPES.values()))},
                          "description": "The stored original"},
                    404: {"model": ErrorBody, "description": "No such source, or its file is gone"}})
def source_file(source_id: Annotated[str, FastApiPath(min_length=1, max_length=64)], portal: PortalOf,
                caller: CallerOf, collection: CollectionParam = None) -> FileResponse:
    """The stored original of a source, as citations link to it (`#page=N` for PDFs, `#anchor` for HTML).

    HTML is served sandboxed (no script of the page runs, and it gets no access to this origin).
    """
    path = portal.open(collection, caller).original(source_id)
    media = ORIGINAL_TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'; "
               "img-src 'self' data:; style-src 'unsafe-inline'", "Cache-Control": "private, no-cache"}
    if media.startswith("text/"):
        media += "; charset=utf-8"
    return FileResponse(path, media_type=media, headers=headers, content_disposition_type="inline",
                        filename=path.name)


@api.delete("/api/sources/{source_id}", tags=["sources"], response_model=SourceInfo,
            responses={404: {"model": ErrorBody, "description": "No such source"}})
def delete_source(source_id: Annotated[str, FastApiPath(min_length=1, max_length=1000)],
                  portal: PortalOf, caller: CallerOf, collection: CollectionParam = None) -> SourceInfo:
    """Remove a source (by its id, or a file name matching one source) and all its chunks."""
    removed = portal.open(collection, caller, write=True).remove(source_id, actor=caller.id)
    if removed is None:
        raise ApiError(404, f"no stored source matches {source_id!r}", code="not_found")
    return removed


@api.get("/metrics", tags=["operations"], response_class=PlainTextResponse,
         responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(portal: PortalOf, caller: CallerOf) -> PlainTextResponse:
    """Request counts and latencies per route and status, answer latency by collection and by stage,
    abstentions, upload ingest throughput, chunks and documents per collection, and how stale this process's
    view of each store may be. Needs an admin key when keys are set."""
    portal.require_admin(caller)
    return PlainTextResponse(portal.telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------- public pages


public = APIRouter()

# /embed runs only its own script and stylesheet and talks only to this server; any site may frame it.
EMBED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors *")
EMBED_ASSETS = {"js": "text/javascript", "css": "text/css"}


@public.get("/healthz", response_model=Health, tags=["health"],
            responses={503: {"model": Health, "description": "Model or store not usable"}})
def healthz(portal: PortalOf) -> Any:
    """Model loaded, store reachable, chunk count (of the default collection). Public: meant for load
    balancers and probes."""
    health = portal.default.health()
    return health if health.status == "ok" else JSONResponse(health.model_dump(), status_code=503)


@lru_cache(maxsize=1)
def _embed_template() -> str:
    return (STATIC / "embed.html").read_text(encoding="utf-8")


@public.get("/embed", response_class=HTMLResponse, tags=["pages"])
def embed(request: Request, title: str | None = Query(None, max_length=200),
          collection: CollectionParam = None) -> HTMLResponse:
    """A chat page without chrome for an <iframe>; it talks to /api/ask (a key may ride in `#key=...`).

    With `?collection=NAME` it asks that collection, and opens with its title and example questions, which
    its script fetches with the key (so the public page itself names no collection)."""
    heading = html.escape(title or portal_of(request).settings.serving.embed_title)
    return HTMLResponse(_embed_template().replace("{{title}}", heading),
                        headers={"Content-Security-Policy": EMBED_CSP})


@public.get("/embed.{kind}", include_in_schema=False)
def embed_asset(kind: str) -> FileResponse:
    """The script and stylesheet of /embed (separate files, so its CSP needs no 'unsafe-inline')."""
    if kind not in EMBED_ASSETS:
        raise ApiError(404, f"no embed asset /embed.{kind}", code="not_found")
    return FileResponse(STATIC / f"embed.{kind}", media_type=EMBED_ASSETS[kind],
                        headers={"X-Content-Type-Options": "nosniff"})


@public.get("/login", include_in_schema=False)
def login_form(next: str = "/") -> HTMLResponse:
    """The UI's sign-in page: one field for an API key."""
    return login_page(safe_next(next))


@public.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the typed key; a good one sets the session cookie and returns to the page asked for."""
    form = parse_form(await request.body())
    sessions: Sessions = request.app.state.sessions
    target = safe_next(form.get("next"))
    key = sessions.keyring.match(form.get("key", "")) if sessions.keyring else None
    if sessions.keyring and key is None:
        log.warning("ui sign-in with a wrong key from %s", request.client.host if request.client else "?")
        return login_page(target, failed=True, status=401)
    response = RedirectResponse(target, status_code=303)
    if key is not None:
        response.set_cookie(COOKIE, sessions.token_for(key), max_age=sessions.seconds, path="/", httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
    return response


@public.get("/logout", include_in_schema=False)
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# Unknown /api and /v1 paths, and known ones with the wrong method, answer in the API's error shape
# (without this, the UI mounted at "/" would answer them with its own 404).
fallback = APIRouter(include_in_schema=False)
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@fallback.api_route("/api/{rest:path}", methods=ALL_METHODS)
@fallback.api_route("/v1/{rest:path}", methods=ALL_METHODS)
@fallback.api_route("/api", methods=ALL_METHODS)
@fallback.api_route("/v1", methods=ALL_METHODS)
def unknown_route(request: Request) -> Response:
    routes = [r for r in (*api.routes, *openai_compat.router.routes) if isinstance(r, APIRoute)]
    allowed = sorted({m for route in routes if route.matches(request.scope)[0] == Match.PARTIAL for m in route.methods})
    if allowed:
        raise ApiError(405, f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
                       code="method_not_allowed", headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, f"no route {request.url.path}; see /docs", code="not_found")


# ---------------------------------------------------------------- the app


def create_api(bot: Assistant | ServedAssistant | Portal) -> FastAPI:
    """The API app over a portal (the default collection is ``bot``'s, the others open on first use). Add the
    UI on top of it (see ``web.create_web_app``), never the reverse."""
    portal = Portal.of(bot)
    s = portal.settings.serving
    app = FastAPI(
        title="Grounded assistant API", version="1.0",
        description="Answers only from your documents, with verbatim citations. See docs/api.md.",
    )
    app.state.portal = portal
    app.state.served = portal.default
    app.state.sessions = portal.sessions
    install_error_handlers(app)
    app.include_router(api)
    app.include_router(openai_compat.router)
    app.include_router(public)
    app.include_router(fallback)
    upload_limit = int(s.max_upload_mb * 1024 * 1024) + 64 * 1024  # room for the multipart envelope
    quota = CallerQuota(s.rate_limit, s.max_concurrent_asks, s.upload_mb_per_day, upload_limit)
    app.add_middleware(CallerLimits, quota=quota, sessions=portal.sessions)  # inside the guard: callers are known
    app.add_middleware(AccessGuard, sessions=app.state.sessions, ui=s.ui,
                       limits=Limits(max_body=s.max_request_kb * 1024, max_upload=upload_limit))
    # Outermost, so 401 and 413 answers carry CORS headers too; with it, Gradio adds no CORS policy of its own.
    app.add_middleware(
        CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"], expose_headers=["X-Request-ID"],
    )
    app.add_middleware(RequestLog, telemetry=portal.telemetry)  # outermost: refusals are counted and logged too
    return app
