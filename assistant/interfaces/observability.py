"""What an operator sees of a running server: Prometheus metrics at ``/metrics`` and one JSON access-log line
per request, with a request id that is also sent back in ``X-Request-ID``.

Each app has its own registry (several apps in one process, as in the tests, do not share counters). The
store's figures (chunks, sources, how long since this process last compared its view with the store, per
collection) are read when ``/metrics`` is scraped, not kept up to date on every request.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.ingestion import IngestReport
from assistant.records import DEFAULT_COLLECTION, Answer

access_log = logging.getLogger("assistant.access")
audit_log = logging.getLogger("assistant.audit")  # written by assistant/library.py
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a caller's id is kept only if it is this tame
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)


class Telemetry:
    """The server's metrics; ``observe_*`` are called where the thing happens.

    ``collections`` gives, when scraped, the collections this process has open (name -> Assistant): their
    chunks, documents and view age are read then, one labelled series per collection.
    """

    def __init__(self, collections: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("assistant_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("assistant_http_request_seconds", "HTTP request latency by route.",
                                         ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.ask_seconds = Histogram("assistant_ask_seconds", "Time to a whole answer (every interface).",
                                     ["collection"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage_seconds = Histogram("assistant_ask_stage_seconds", "Time of each answer pipeline stage "
                                       "(understand, retrieve, select, generate, verify).", ["stage"],
                                       buckets=STAGE_BUCKETS, registry=r)
        self.answers = Counter("assistant_answers", "Answers by collection and outcome (answered or abstained).",
                               ["collection", "outcome"], registry=r)
        self.ingested_chunks = Counter("assistant_ingested_chunks", "Chunks written by uploads.", registry=r)
        self.ingest_seconds = Counter("assistant_ingest_seconds", "Seconds spent ingesting uploads "
                                      "(throughput: ingested_chunks / ingest_seconds).", registry=r)
        r.register(_CollectionGauges(collections))

    def observe_answer(self, answer: Answer, seconds: float, collection: str = DEFAULT_COLLECTION) -> None:
        self.ask_seconds.labels(collection).observe(seconds)
        self.answers.labels(collection, "abstained" if answer.abstained else "answered").inc()
        for timing in answer.timings:
            self.stage_seconds.labels(timing.stage).observe(timing.ms / 1000)

    def observe_ingest(self, report: IngestReport) -> None:
        self.ingested_chunks.inc(report.chunks)
        self.ingest_seconds.inc(report.seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _CollectionGauges:
    """Chunks, documents and store view age of each open collection, read at scrape time."""

    def __init__(self, collections: Callable[[], dict[str, Any]]) -> None:
        self.collections = collections

    def describe(self) -> list:
        return []  # nothing to check at registration: the series depend on what is open when scraped

    def collect(self) -> Iterator[GaugeMetricFamily]:
        chunks = GaugeMetricFamily("assistant_chunks", "Chunks in the collection.", labels=["collection"])
        sources = GaugeMetricFamily("assistant_sources", "Documents in the collection.", labels=["collection"])
        age = GaugeMetricFamily("assistant_store_view_age_seconds", "Seconds since this process last compared "
                                "its view of the store with the manifest (it does before every answer).",
                                labels=["collection"])
        now = time.time()
        for name, bot in self.collections().items():
            store = bot.collection
            chunks.add_metric([name], store.count())
            sources.add_metric([name], len(store.sources()))
            age.add_metric([name], now - store.checked_at)
        yield from (chunks, sources, age)


class RequestLog:
    """Outermost middleware: a request id (the caller's ``X-Request-ID`` if tame, else a new one) in the
    response headers, the request counted and timed by route template, and one JSON log line."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app, self.telemetry = app, telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = _route_label(scope)
        method = scope.get("method", "GET")
        self.telemetry.requests.labels(route, method, str(status)).inc()
        self.telemetry.request_seconds.labels(route).observe(seconds)
        access_log.info(json.dumps({"request_id": request_id, "method": method, "path": scope.get("path", ""),
                                    "route": route, "status": status, "ms": round(seconds * 1000, 1)}))


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes of an app with its included routers opened (FastAPI keeps those as one entry each)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else [route]


def _route_label(scope: Scope) -> str:
    """The route template that served (or would have served) the request: labels must stay few, so never
    the raw path. A request refused before routing (no key, too large) is matched here; the mounted UI
    is "/ (ui)" and anything else "other"."""
    route = scope.get("route")
    if route is None and "app" in scope:
        route = next((r for r in _flat(scope["app"].routes) if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    if isinstance(route, Mount):
        return "/ (ui)"
    return path or "other"


def enable_json_logs(access: bool = True) -> None:
    """Audit lines (every write) and, with ``access``, access lines as bare JSON on stderr, one object per
    line, apart from the other log lines."""
    for logger in (audit_log, access_log) if access else (audit_log,):
        if logger.handlers:
            continue
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
