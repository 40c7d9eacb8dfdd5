"""Who may use the server: API keys on every route that reads or writes data, the UI included.

One ASGI guard sits in front of the whole app (API, OpenAI-compatible routes and the mounted Gradio
UI), so no route can be forgotten: with keys set, everything but a short public list needs a key.
API routes take ``Authorization: Bearer <key>`` only. The UI takes the same header, or a session
cookie that ``/login`` sets once the user has typed a key: the cookie names the key by its id and is
signed (HMAC) with a server secret joined to the key's digest (``Sessions``), so it ends when its time
is up, and it stops working when its key is removed. It is ``HttpOnly`` and ``SameSite=Lax``, and a
cookie-borne write from another origin is refused (``Origin`` must match ``Host``).

The guard also applies the body-size limits before a body is read, and keeps a read-only UI from
uploading anything.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.interfaces.http_errors import error_response
from assistant.interfaces.keys import EVERYTHING, NOTHING, ApiKey, Grant, Keyring

API_PREFIXES = ("/api/", "/v1/")
PUBLIC_PATHS = frozenset({"/healthz", "/embed", "/embed.js", "/embed.css", "/login", "/logout",
                          "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
UI_UPLOAD = "/gradio_api/upload"
UI_CALLS = ("/gradio_api/call/", "/gradio_api/queue/join", "/gradio_api/run/", "/gradio_api/api/")
UI_CALL_LIMIT = 16 * 2**20  # a UI call carries the conversation so far: generous, but bounded
NOT_RECEIVED = "those files were not uploaded through this page; add them again"
COOKIE = "assistant_session"
_ORIGINAL = re.compile(r"^/api/sources/[^/]+/file$")
_SLASHES = re.compile(r"/{2,}")
LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/v1")


class Sessions:
    """Signed session tokens for the UI: ``<key id>.<expiry>.<HMAC of both>``.

    The HMAC key joins a server secret with the key's digest, so a token ends when its key goes, and the
    key file (which holds digests) is not enough to forge one. The secret is ``ASSISTANT_SESSION_SECRET``,
    else derived from the ``ASSISTANT_API_KEYS`` keys (every worker derives the same), else random per
    process (then a UI session lives in the worker that signed it, as Gradio's queue does anyway).
    """

    def __init__(self, keyring: Keyring, hours: float, secret: str | None = None) -> None:
        self.keyring = keyring
        self.seconds = int(hours * 3600)
        self.secret = secret.encode() if secret else keyring.plain_secret or secrets.token_bytes(32)

    def token_for(self, key: ApiKey, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.seconds)
        payload = f"{key.id}.{expires}"
        return f"{payload}.{_sign(self.secret + key.digest, payload)}"

    def key_of(self, token: str, now: float | None = None) -> ApiKey | None:
        """The key a session token was signed for, while it is valid and the key still exists."""
        key_id, _, rest = token.partition(".")
        expires, _, signature = rest.partition(".")
        key = self.keyring.by_id(key_id)
        if key is None or not expires.isdigit() or int(expires) < (now or time.time()):
            return None
        return key if hmac.compare_digest(signature, _sign(self.secret + key.digest, f"{key_id}.{expires}")) else None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from (for limits and the audit log: never the key itself) and what it may do."""

    id: str
    grant: Grant


def routed_path(scope: Scope) -> str:
    """The path as routing will read it: "//gradio_api//upload/" must not slip past a check on "/gradio_api/upload"."""
    return _SLASHES.sub("/", scope.get("path", "")).rstrip("/") or "/"


def header_map(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def identify(headers: dict[str, str], client: Sequence | None, sessions: Sessions) -> Caller:
    """The caller of a request, by whichever of its Bearer key or UI session is valid.

    A made-up header or cookie beside a valid one cannot make a caller look new. With keys set and none
    valid: ``key:none``, which may do nothing. Without keys: ``address:<client address>``, which may do
    everything (the server is open).
    """
    if not sessions.keyring:
        return Caller("address:" + (str(client[0]) if client else "unknown"), EVERYTHING)
    key = bearer_key(headers, sessions.keyring)
    if key is None:
        session = _cookie(headers.get("cookie", ""), COOKIE)
        key = sessions.key_of(session) if session else None
    return Caller("key:" + key.id, key.grant) if key else Caller("key:none", NOTHING)


def caller_id(headers: dict[str, str], client: Sequence | None, sessions: Sessions) -> str:
    return identify(headers, client, sessions).id


def bearer_key(headers: dict[str, str], keyring: Keyring) -> ApiKey | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return keyring.match(token.strip()) if scheme.lower() == "bearer" else None


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int  # JSON bodies of the API
    max_upload: int  # multipart uploads (the API's and the UI's)


class AccessGuard:
    """Keys, sessions and body-size limits, checked before a request body is read.

    A plain ASGI middleware rather than a dependency: FastAPI parses (and spools) a multipart body
    before dependencies run, Gradio's routes have no FastAPI dependencies of ours at all, and a request
    without the right key must not touch anything.
    """

    def __init__(self, app: ASGIApp, sessions: Sessions, limits: Limits, ui: str) -> None:
        self.app, self.sessions, self.limits, self.ui = app, sessions, limits, ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # the path as routing will read it: "//gradio_api//upload/" must not slip past the checks below
        path, method, headers = routed_path(scope), scope.get("method", "GET"), header_map(scope)
        refusal = self._refusal(path, method, headers)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refusal(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        received = getattr(scope["app"].state, "ui_received", None) if "app" in scope else None
        if method == "POST" and path.startswith(UI_CALLS) and received is not None:
            await self._ui_call(scope, receive, send, received)
            return
        limit = self._body_limit(path)
        declared = headers.get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            await error_response(413, _too_large(limit), code="too_large")(scope, receive, send)
            return
        await self.app(scope, receive if limit is None else _counting(receive, limit), send)

    async def _ui_call(self, scope: Scope, receive: Receive, send: Send, received) -> None:
        """A Gradio call may name only files Gradio received by upload (``FileData.path`` is not trusted)."""
        body = await _read_body(receive, UI_CALL_LIMIT)
        if body is None:
            await error_response(413, _too_large(UI_CALL_LIMIT), code="too_large")(scope, receive, send)
            return
        try:
            paths = list(_file_paths(json.loads(body)))
        except ValueError:
            paths = []  # not JSON: Gradio answers that itself
        if not all(received(p) for p in paths):
            await error_response(400, NOT_RECEIVED, code="file_not_received")(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)

    def _refusal(self, path: str, method: str, headers: dict[str, str]) -> Response | None:
        if method == "OPTIONS" or path in PUBLIC_PATHS:
            return None
        if self.sessions.keyring and not self._allowed(path, method, headers):
            if is_api(path) or method != "GET" or "text/html" not in headers.get("accept", ""):
                return error_response(401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                                      "authentication_error", "invalid_api_key", {"WWW-Authenticate": "Bearer"})
            return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        if path == UI_UPLOAD and self.ui != "full":
            return error_response(403, "this server's UI is read-only: documents cannot be added through it",
                                  code="read_only")
        return None

    def _allowed(self, path: str, method: str, headers: dict[str, str]) -> bool:
        if bearer_key(headers, self.sessions.keyring) is not None:
            return True
        if is_api(path) and not (method in ("GET", "HEAD") and _ORIGINAL.match(path)):
            return False  # the API takes keys only (a cookie may read a cited original: the UI links to it)
        session = _cookie(headers.get("cookie", ""), COOKIE)
        if not session or self.sessions.key_of(session) is None:
            return False
        return method in ("GET", "HEAD") or _same_origin(headers)

    def _body_limit(self, path: str) -> int | None:
        if path in ("/api/sources", UI_UPLOAD):
            return self.limits.max_upload
        return self.limits.max_body if is_api(path) or path == "/login" else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _file_paths(value: object) -> Iterator[str]:
    """Every ``path`` of a file object in a Gradio payload, at any depth (with or without its ``meta``)."""
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value["path"]
        for item in value.values():
            yield from _file_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_paths(item)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _same_origin(headers: dict[str, str]) -> bool:
    """A cookie-borne write must come from this server's own pages (browsers send Origin on POST)."""
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc == headers.get("host", "")


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


# ---------------------------------------------------------------- the sign-in page of the UI


def login_page(next_path: str, failed: bool = False, status: int = 200) -> HTMLResponse:
    note = '<p class="bad">That key is not valid.</p>' if failed else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Grounded assistant</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body {{ font: 16px system-ui, sans-serif; max-width: 24em; margin: 10vh auto; padding: 0 1em; }}
input, button {{ font: inherit; padding: .4em; width: 100%; box-sizing: border-box; margin: .3em 0; }}
.bad {{ color: #b00020; }}</style></head><body><h1>Grounded assistant</h1>
<p>This server needs an API key. It is kept in a cookie for this browser only.</p>{note}
<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_path)}">
<label>API key <input type="password" name="key" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></form></body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": LOGIN_CSP,
                                                           "Cache-Control": "no-store"})


def safe_next(raw: str | None) -> str:
    """Only a path on this server (never //host or a scheme) may be where a sign-in returns to."""
    value = raw or "/"
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) else "/"


def parse_form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
