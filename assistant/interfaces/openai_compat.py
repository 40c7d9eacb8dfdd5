"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (plain or streamed) and ``GET /v1/models``.

The answer text carries ``[n]`` markers. What they point to travels three ways, so every client keeps it:
the standard ``message.annotations`` (one ``url_citation`` per marker, its place in the text and a URL that
opens the cited place), the extension field ``citations`` (the whole answer contract's citations), and a
"Sources" block of numbered quotes appended to the text for clients that show only text (langchain's
``ChatOpenAI``, the ``llm`` tool). Streams send the *verified* answer only, one sentence per delta: OpenAI
clients concatenate deltas into the final text, so nothing that verification might drop is ever sent.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from assistant.errors import CollectionNotFound
from assistant.interfaces.access import Caller
from assistant.interfaces.http_errors import ERRORS, ApiError, ErrorBody
from assistant.interfaces.portal import CallerOf, Portal, PortalOf, bearer
from assistant.interfaces.serving import ServedAssistant
from assistant.records import MARKER, Answer, Citation, Message
from assistant.shelf import DEFAULT_COLLECTION

router = APIRouter(dependencies=[Depends(bearer)], responses=ERRORS)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat request; sampling options (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="The collection to answer from (GET /v1/models lists those the "
                              "key may read); the served model id (ASSISTANT_SERVED_MODEL) or none: the default.")
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: dict[str, Any] | None = None
    sources_block: bool | None = Field(None, description=(
        "Append a 'Sources' block of numbered quotes to the text; default ASSISTANT_SOURCES_BLOCK (on), "
        "off when response_format asks for JSON."))

    def wants_sources_block(self, default: bool) -> bool:
        if self.sources_block is not None:
            return self.sources_block
        asks_json = (self.response_format or {}).get("type") in ("json_object", "json_schema")
        return default and not asks_json


class UrlCitation(BaseModel):
    start_index: int = Field(description="Where the [n] marker starts in the message text.")
    end_index: int = Field(description="Where it ends (exclusive).")
    title: str
    url: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    annotations: list[Annotation] = Field(default_factory=list, description="One url_citation per [n] marker.")


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Word counts: the extractive answerer has no tokenizer of its own."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[Citation] = Field(description="What the [n] markers in the answer point to.")
    abstained: bool
    reason: str | None = None


class ModelCard(BaseModel):
    id: str = Field(description="The collection's name (the default collection: the served model id).")
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "grounded-assistant"
    title: str | None = Field(None, description="The collection's title.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


SOURCES_HEADING = "\n\nSources:\n"
_PIECE_END = re.compile(MARKER.pattern + r"\s+(?=[^\s\[])")


def answer_pieces(text: str) -> list[str]:
    """Split an answer after each run of [n] markers: one sentence per piece; joined they are ``text``."""
    cuts = [0, *(m.end() for m in _PIECE_END.finditer(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def split_chat(messages: Sequence[ChatMessageIn]) -> tuple[str, list[Message]]:
    """The last user message is the question; earlier user and assistant turns are the history."""
    if messages[-1].role != "user":
        raise ApiError(422, "the last message must have role 'user'", code="invalid_request")
    history = [Message(role=m.role, content=_without_sources(m)) for m in messages[:-1]
               if m.role in ("user", "assistant")]
    return messages[-1].text(), history


def _without_sources(message: ChatMessageIn) -> str:
    """An earlier answer as the client sends it back, less the Sources block this server appended."""
    text = message.text()
    return text.split(SOURCES_HEADING, 1)[0] if message.role == "assistant" else text


def sources_block(citations: Sequence[Citation]) -> str:
    """The citations as text: a blank line, "Sources:", then one "[n] “quote” (title, section, p. N)" each."""
    if not citations:
        return ""
    lines = []
    for c in citations:
        where = ", ".join(part for part in (c.title, c.section, f"p. {c.page}" if c.page else "") if part)
        lines.append(f"[{c.n}] “{' '.join(c.quote.split())}” ({where})")
    return SOURCES_HEADING + "\n".join(lines)


def annotations(text: str, citations: Sequence[Citation], base_url: str) -> list[Annotation]:
    """One url_citation per [n] marker of ``text`` that names a citation with somewhere to open."""
    by_number = {c.n: c for c in citations}
    found = []
    for match in MARKER.finditer(text):
        cited = by_number.get(int(match.group(1)))
        url = cited and (f"{base_url}{cited.link}" if cited.link else cited.url)
        if cited and url:
            found.append(Annotation(url_citation=UrlCitation(start_index=match.start(), end_index=match.end(),
                                                             title=cited.title, url=url)))
    return found


class Reply:
    """An answer as /v1 sends it: the text (with its Sources block when asked), annotations and usage."""

    def __init__(self, answer: Answer, request: ChatRequest, with_sources: bool, base_url: str) -> None:
        self.answer = answer
        self.block = sources_block(answer.citations) if with_sources else ""
        self.text = answer.answer + self.block
        self.annotations = annotations(answer.answer, answer.citations, base_url)
        words, prompt = len(self.text.split()), sum(len(m.text().split()) for m in request.messages)
        self.usage = Usage(prompt_tokens=prompt, completion_tokens=words, total_tokens=prompt + words)
        self.include_usage = bool(request.stream_options and request.stream_options.include_usage)


def completion(base: dict[str, Any], reply: Reply) -> ChatCompletion:
    """The whole answer as one ``chat.completion``, with word counts as usage."""
    answer = reply.answer
    message = ChatMessageOut(content=reply.text, annotations=reply.annotations)
    return ChatCompletion(**base, choices=[ChatChoice(message=message)], usage=reply.usage,
                          citations=answer.citations, abstained=answer.abstained, reason=answer.reason)


def completion_chunks(base: dict[str, Any], reply: Reply) -> Iterator[str]:
    """The answer as SSE data: a role delta, one delta per sentence (the Sources block last), a final chunk
    with the annotations and citations, a usage chunk when ``stream_options.include_usage``, then [DONE]."""
    answer = reply.answer
    usage: dict[str, Any] = {"usage": None} if reply.include_usage else {}
    yield _chunk(base, {"role": "assistant", "content": ""}, **usage)
    for piece in [*answer_pieces(answer.answer), *([reply.block] if reply.block else [])]:  # the block last
        yield _chunk(base, {"content": piece}, **usage)
    cited = [c.model_dump() for c in answer.citations]
    final = {"annotations": [a.model_dump() for a in reply.annotations]} if reply.annotations else {}
    yield _chunk(base, final, "stop", citations=cited, abstained=answer.abstained, reason=answer.reason, **usage)
    if reply.include_usage:
        yield json.dumps({**base, "object": "chat.completion.chunk", "choices": [],
                          "usage": reply.usage.model_dump()}, ensure_ascii=False)
    yield "[DONE]"


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice], **extra}, ensure_ascii=False)


@router.post(
    "/v1/chat/completions", response_model=ChatCompletion, tags=["openai"],
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "With `stream: true`: `chat.completion.chunk` events, the last one with `finish_reason: stop` and "
        "`citations`, then `data: [DONE]`."
    )}},
)
async def chat_completions(body: ChatRequest, portal: PortalOf, caller: CallerOf, request: Request) -> Any:
    """OpenAI-compatible chat: `model` names the collection; the answer text carries [n] markers, and
    `message.annotations` (url_citation), `citations` and, unless turned off, a "Sources" block at the end of
    the text say what they point to."""
    served = _collection_of(body.model, portal, caller)
    question, history = split_chat(body.messages)
    served.check_history(len(history))
    answer = await run_in_threadpool(served.ask, question, history)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
            "model": _model_id(served.name, portal)}
    with_sources = body.wants_sources_block(served.settings.serving.sources_block)
    reply = Reply(answer, body, with_sources, str(request.base_url).rstrip("/"))
    if body.stream:
        return EventSourceResponse(completion_chunks(base, reply), sep="\n")
    return completion(base, reply)


def _model_id(collection: str, portal: Portal) -> str:
    return portal.settings.serving.served_model if collection == DEFAULT_COLLECTION else collection


def _collection_of(model: str | None, portal: Portal, caller: Caller) -> ServedAssistant:
    """The collection a model id names; 404 as an unknown model for one the key may not read."""
    name = DEFAULT_COLLECTION if model in (None, "", portal.settings.serving.served_model) else model
    try:
        return portal.open(name, caller)
    except CollectionNotFound as exc:
        raise ApiError(404, f"unknown model {model!r}; GET /v1/models lists the collections this key may read",
                       code="model_not_found") from exc


@router.get("/v1/models", response_model=ModelList, tags=["openai"])
def list_models(portal: PortalOf, caller: CallerOf) -> ModelList:
    """The collections this key may read, each as a model (the default one under the served model id)."""
    return ModelList(data=[ModelCard(id=_model_id(c.name, portal), title=c.title) for c in portal.readable(caller)])


@router.get("/v1/models/{model_id}", response_model=ModelCard, tags=["openai"],
            responses={404: {"model": ErrorBody, "description": "Unknown model"}})
def get_model(model_id: str, portal: PortalOf, caller: CallerOf) -> ModelCard:
    served = _collection_of(model_id, portal, caller)
    return ModelCard(id=_model_id(served.name, portal), title=portal.shelf.profile(served.name).title)
