"""Errors as the API, the OpenAI-compatible routes and the UI show them: one JSON shape, one status per cause.

Every error body has OpenAI's shape (``{"error": {"message", "type", "code"}}``) so OpenAI clients show the
message. ``error_of`` is the one place that maps the core's errors (``assistant/errors.py``) to HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from assistant.errors import CollectionNotFound, CollectionRefused, QuestionError, SourceNotFound
from assistant.llm import LLMError
from assistant.uploads import UploadRefused
from ingest.loaders import IngestError
from store.chroma_index import StoreUnavailableError
from store.collection import StoreBusyError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request we refuse, with the HTTP status and the message the caller sees."""

    def __init__(self, status: int, message: str, code: str | None = None, type_: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.type = status, message, code, type_
        self.headers = headers


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape so OpenAI clients show the message."""

    error: ErrorDetail


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> ErrorBody:
    return ErrorBody(error=ErrorDetail(message=message, type=type_, code=code))


def error_response(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, type_, code).model_dump(), status_code=status, headers=headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Invalid question (empty or too long)", 401: "Missing or wrong API key",
        403: "The key may read this collection but not change it",
        404: "No such route, source, model or collection (or none this key may see)",
        405: "Method not allowed on this route",
        413: "Request body or upload too large", 422: "Malformed request",
        429: "Over ASSISTANT_RATE_LIMIT for this key (Retry-After says when to retry)",
        502: "The language-model server failed", 503: "Store busy or unavailable",
    }.items()
}

# exception class -> (status, OpenAI error type, code); the first match wins
_KNOWN: dict[type, tuple[int, str, str]] = {
    QuestionError: (400, "invalid_request_error", "invalid_question"),
    SourceNotFound: (404, "invalid_request_error", "not_found"),
    CollectionNotFound: (404, "invalid_request_error", "collection_not_found"),
    CollectionRefused: (403, "permission_error", "scope_missing"),
    IngestError: (422, "invalid_request_error", "ingest_failed"),
    StoreBusyError: (503, "server_error", "store_busy"),
    StoreUnavailableError: (503, "server_error", "store_unavailable"),
    LLMError: (502, "server_error", "llm_unavailable"),
}


# UploadRefused.kind -> (status, code)
_REFUSALS = {"unsupported": (415, "unsupported_file_type"), "empty": (422, "invalid_request"),
             "duplicate": (422, "duplicate_name"), "too_large": (413, "too_large")}


def error_of(exc: Exception) -> tuple[int, ErrorBody, dict[str, str] | None]:
    """Status, body and headers for an exception raised while answering or ingesting."""
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.message, exc.type, exc.code), exc.headers
    if isinstance(exc, UploadRefused):
        status, code = _REFUSALS[exc.kind]
        return status, error_body(str(exc), code=code), None
    for kind, (status, type_, code) in _KNOWN.items():
        if isinstance(exc, kind):
            headers = {"Retry-After": "5"} if code == "store_busy" else None
            return status, error_body(str(exc), type_, code), headers
    return 500, error_body("internal error; the server log has the details", "server_error", "internal"), None


def _only_an_empty_question(errors: Sequence[Any]) -> bool:
    return bool(errors) and all(tuple(e.get("loc", ())) == ("body", "question")
                                and e.get("type") in ("string_too_short", "string_pattern_mismatch") for e in errors)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with an ErrorBody; a bug (500) is logged with its traceback, never sent."""

    async def known(_: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_of(exc)
        if status == 500:
            log.error("unexpected error", exc_info=exc)
        return JSONResponse(body.model_dump(), status_code=status, headers=headers)

    for kind in (ApiError, UploadRefused, *_KNOWN, Exception):
        app.add_exception_handler(kind, known)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        if _only_an_empty_question(exc.errors()):  # the schema says so too; the answer stays the 400 of old
            return error_response(400, "the question is empty", code="invalid_question")
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()[:5]]
        return error_response(422, "invalid request: " + "; ".join(problems), code="invalid_request")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, str(exc.detail), code=code,
                              headers=getattr(exc, "headers", None))
