"""Requests per caller and window (``ASSISTANT_RATE_LIMIT``, e.g. ``60/minute``), counted with `limits`.

A caller is its API key (by fingerprint) when keys are set, else its client address. The API routes and the
UI's calls and uploads count; pages, assets and public routes do not. The counts live in this process: with
``--workers N`` each worker counts its own share (docs/deployment.md).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import Response

from assistant.interfaces.http_errors import error_response


class RequestRate:
    def __init__(self, rate: str) -> None:
        self.rate, self.item = rate, parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def refusal(self, caller: str) -> Response | None:
        """None if ``caller`` may go on (the request is counted); else the 429 answer, with Retry-After."""
        if self.limiter.hit(self.item, caller):
            return None
        reset, _ = self.limiter.get_window_stats(self.item, caller)
        retry = max(1, math.ceil(reset - time.time()))
        return error_response(429, f"too many requests: the limit is {self.rate}; retry in {retry} s",
                              "rate_limit_error", "rate_limit_exceeded", {"Retry-After": str(retry)})
