"""The failures a user can cause or meet, from every layer, in one place.

The faces (CLI, HTTP, UI) word these for the user; anything else is a bug, logged with its traceback and
shown as a plain apology. ``assistant/interfaces/http_errors.py`` is the one place that maps them to HTTP.
"""

from __future__ import annotations

from pydantic import ValidationError

from assistant.llm import LLMError
from assistant.uploads import UploadRefused
from ingest.loaders import IngestError
from store.chroma_index import StoreUnavailableError
from store.collection import StoreBusyError


class QuestionError(ValueError):
    """A question we refuse to process (empty, too long); the message says why."""


class SourceNotFound(LookupError):
    """No stored source (or no stored file of one) matches the id or name asked for."""


class CollectionNotFound(LookupError):
    """No collection of that name (or none the caller may see: the two read the same)."""


class CollectionRefused(PermissionError):
    """The caller sees the collection but may not do this to it (write without a write scope)."""


EXPECTED: tuple[type[Exception], ...] = (
    QuestionError, SourceNotFound, CollectionNotFound, CollectionRefused, UploadRefused, IngestError, StoreBusyError,
    StoreUnavailableError, LLMError,
)


def is_expected(exc: BaseException) -> bool:
    """A failure the user can act on (its message says what to do), as opposed to a bug."""
    return isinstance(exc, EXPECTED)


def validation_summary(exc: ValidationError, limit: int = 3) -> str:
    """The first problems of a pydantic ValidationError on one line: ``field: message; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:limit])
