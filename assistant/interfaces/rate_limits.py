"""Limits per caller, after the access guard let the request in: requests per window
(``ASSISTANT_RATE_LIMIT``), asks at once (``ASSISTANT_MAX_CONCURRENT_ASKS``) and upload megabytes per day
(``ASSISTANT_UPLOAD_MB_PER_DAY``). Windows are counted with `limits`.

A caller is its API key (by fingerprint) when keys are set, else its client address. The API routes and the
UI's calls and uploads count; pages, assets and public routes do not. Counts live in this process: with
``--workers N`` each worker counts its own share (docs/deployment.md). Over a limit: 429 in OpenAI's error
shape, with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.interfaces.access import (
    PUBLIC_PATHS,
    UI_CALLS,
    UI_UPLOAD,
    Sessions,
    caller_id,
    header_map,
    is_api,
    routed_path,
)
from assistant.interfaces.http_errors import error_response

ASK_ROUTES = frozenset({"/api/ask", "/api/ask/stream", "/v1/chat/completions"})
UPLOAD_ROUTES = frozenset({"/api/sources", UI_UPLOAD})


@dataclass(frozen=True, slots=True)
class CallerQuota:
    rate: str | None = None  # e.g. "60/minute"
    concurrent_asks: int | None = None
    upload_mb_per_day: float | None = None
    max_upload: int = 0  # bytes an upload may carry: its cost when it declares no length


class CallerLimits:
    def __init__(self, app: ASGIApp, quota: CallerQuota, sessions: Sessions) -> None:
        self.app, self.quota, self.sessions = app, quota, sessions
        self.windows = MovingWindowRateLimiter(MemoryStorage())
        self.rate = parse(quota.rate) if quota.rate else None
        self.uploads = parse(f"{math.ceil(quota.upload_mb_per_day * 1024)}/day") if quota.upload_mb_per_day else None
        self.asking: Counter[str] = Counter()
        self.asking_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = routed_path(scope), scope.get("method", "GET")
        counted = is_api(path) or path in UPLOAD_ROUTES or path.startswith(UI_CALLS)
        if scope["type"] != "http" or method == "OPTIONS" or path in PUBLIC_PATHS or not counted:
            await self.app(scope, receive, send)
            return
        headers = header_map(scope)
        caller = caller_id(headers, scope.get("client"), self.sessions)
        if self.quota.concurrent_asks and path in ASK_ROUTES:
            await self._one_more_ask(caller, scope, receive, send)  # a busy refusal costs no rate
            return
        refusal = self._over_rate(caller) or (self._over_upload_quota(caller, headers)
                                              if method == "POST" and path in UPLOAD_ROUTES else None)
        await (refusal or self.app)(scope, receive, send)

    def _over_rate(self, caller: str) -> Response | None:
        if self.rate is None or self.windows.hit(self.rate, "rate", caller):
            return None
        retry = self._retry_after(self.rate, "rate", caller)
        return _too_many(f"too many requests: the limit is {self.quota.rate}; retry in {retry} s", retry)

    def _over_upload_quota(self, caller: str, headers: dict[str, str]) -> Response | None:
        """Each upload costs its declared size in KiB (the upload limit when it declares none)."""
        declared = headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else self.quota.max_upload
        if self.uploads is None or self.windows.hit(self.uploads, "upload", caller, cost=max(1, size // 1024)):
            return None
        retry = self._retry_after(self.uploads, "upload", caller)
        return _too_many(f"upload quota used up: {self.quota.upload_mb_per_day:g} MB a day; retry in {retry} s",
                         retry)

    async def _one_more_ask(self, caller: str, scope: Scope, receive: Receive, send: Send) -> None:
        with self.asking_lock:
            busy = self.asking[caller] >= (self.quota.concurrent_asks or 0)
            if not busy:
                self.asking[caller] += 1
        if busy:
            message = f"too many asks at once: the limit is {self.quota.concurrent_asks}; retry when one ends"
            await _too_many(message, 1)(scope, receive, send)
            return
        try:
            await (self._over_rate(caller) or self.app)(scope, receive, send)  # a stream counts until it ends
        finally:
            with self.asking_lock:
                self.asking[caller] -= 1

    def _retry_after(self, item, *identifiers: str) -> int:
        reset, _ = self.windows.get_window_stats(item, *identifiers)
        return max(1, math.ceil(reset - time.time()))


def _too_many(message: str, retry: int) -> Response:
    return error_response(429, message, "rate_limit_error", "rate_limit_exceeded", {"Retry-After": str(retry)})
