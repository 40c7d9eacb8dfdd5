"""The answer contract shared by the CLI (--json), the HTTP API and Python callers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from ingest.records import Chunk

MARKER = re.compile(r"\[(\d+)\]")
"""A citation marker in answer text: ``[n]`` refers to ``citations[n-1]`` (the one home of this pattern)."""
SPACED_MARKER = re.compile(r"\s*" + MARKER.pattern)  # with the space before it, to cut markers out of text


def source_id(source: str) -> str:
    """The stable short id of a stored source (``DELETE /api/sources/{id}``, ``/api/sources/{id}/file``)."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def source_link(chunk: Chunk, offset: int) -> str:
    """Where the server opens the stored original at an offset of this chunk: its PDF page, or the HTML
    section's anchor."""
    base = f"/api/sources/{source_id(chunk.source)}/file"
    page = chunk.page_at(offset)
    if page is not None:
        return f"{base}#page={page}"
    anchor = chunk.metadata.get("anchor")
    return f"{base}#{anchor}" if anchor else base


class Message(BaseModel):
    """One turn of the conversation, in OpenAI's message shape."""

    role: Literal["user", "assistant", "system"]
    content: str


COLLECTION_NAME = r"^[a-z0-9][a-z0-9_-]{0,23}$"  # assistant/shelf.py: a named collection of the data dir
DEFAULT_COLLECTION = "default"  # the data dir itself: the bundled article, or what is ingested unnamed


class Question(BaseModel):
    question: str = Field(min_length=1, pattern=r"\S", description=(
        "The question; it must hold a visible character, and the server refuses one longer than "
        "ASSISTANT_MAX_QUESTION_CHARS (default 2000) with 400."))
    history: list[Message] = Field(default_factory=list)
    collection: str | None = Field(None, pattern=COLLECTION_NAME, description=(
        "The collection to answer from (GET /api/collections lists those the key may read); default: the "
        "default collection. One the key may not read is 404, as if it did not exist."))


class Citation(BaseModel):
    n: int = Field(description="The number used by the [n] marker in the answer.")
    source: str
    title: str
    section: str
    quote: str = Field(description="Verbatim source text: source_text[start:end] == quote.")
    chunk_id: str
    start: int
    end: int
    page: int | None = None
    url: str | None = None
    published: str | None = None
    link: str | None = Field(None, description=(
        "Opens the stored original at the citation, on this server (same auth as the API): "
        "/api/sources/{id}/file, with #page=N for a PDF or #anchor of the section for an HTML page."))

    @classmethod
    def of_chunk(cls, n: int, chunk: Chunk, start: int, end: int, quote: str) -> Citation:
        """The citation of ``quote`` (``chunk``'s source text from ``start`` to ``end``)."""
        return cls(n=n, source=chunk.source, title=chunk.title, section=chunk.section, quote=quote,
                   chunk_id=chunk.id, start=start, end=end, page=chunk.page_at(start), url=chunk.metadata.get("url"),
                   published=chunk.metadata.get("published"), link=source_link(chunk, start))


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """Text of the answer as it is written: a draft (generated tokens are not verified yet)."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """The final answer, which replaces every token before it."""

    answer: Answer


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The answer failed after the stream started (the model server went away, the store was busy)."""

    error: Exception


StreamEvent = TokenEvent | AnswerEvent | ErrorEvent


class Context(BaseModel):
    chunk_id: str
    source: str
    text: str
    score: float


class StageTime(BaseModel):
    """How long one stage of the answer pipeline took for this question."""

    stage: Literal["understand", "retrieve", "select", "generate", "verify"]
    ms: float


class SentenceVerdict(BaseModel):
    """What citation verification did with one sentence the language model wrote."""

    sentence: str = Field(description="The generated sentence, without its markers.")
    verdict: Literal["kept", "moved", "dropped"] = Field(description=(
        "kept: its cited passage supports it; moved: another passage shown to the model does, and the citation "
        "now points there; dropped: removed from the answer."))
    reason: str | None = Field(None, description="Why it was dropped or moved.")
    cited: list[int] = Field(default_factory=list, description="The passage numbers the model cited.")
    citations: list[int] = Field(default_factory=list, description="The n of its citations in this answer.")


class Answer(BaseModel):
    answer: str = Field(description="Answer text with inline [n] citation markers.")
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    contexts: list[Context] = Field(default_factory=list)
    standalone_question: str | None = Field(None, description="The question as searched, after follow-up rewriting.")
    reason: str | None = Field(None, description="Why the assistant abstained, when it did.")
    backend: str = Field("extractive", description="What wrote the answer: extractive, openai or llamacpp.")
    dropped_sentences: int = Field(
        0, description="Generated sentences removed by citation verification (unsupported or uncited)."
    )
    verdicts: list[SentenceVerdict] = Field(default_factory=list, description=(
        "With a language model: each generated sentence and what verification did with it (empty when extractive)."))
    timings: list[StageTime] = Field(default_factory=list, description="Milliseconds per pipeline stage: "
                                     "understand, retrieve, select, then generate and verify with a model.")
