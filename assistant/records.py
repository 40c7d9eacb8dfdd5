"""The answer contract shared by the CLI (--json), the HTTP API and Python callers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Message(BaseModel):
    """One turn of the conversation, in OpenAI's message shape."""

    role: Literal["user", "assistant", "system"]
    content: str


class Question(BaseModel):
    question: str = Field(min_length=1, pattern=r"\S", description=(
        "The question; it must hold a visible character, and the server refuses one longer than "
        "ASSISTANT_MAX_QUESTION_CHARS (default 2000) with 400."))
    history: list[Message] = Field(default_factory=list)


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


class Context(BaseModel):
    chunk_id: str
    source: str
    text: str
    score: float


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
