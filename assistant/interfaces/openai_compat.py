"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (plain or streamed) and ``GET /v1/models``.

The answer text carries ``[n]`` markers and the extra field ``citations`` says what they point to. Streams
send the *verified* answer only, one sentence per delta: OpenAI clients concatenate deltas into the final
text, so nothing that verification might drop is ever sent.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from assistant.interfaces.http_errors import ERRORS, ApiError, ErrorBody
from assistant.interfaces.serving import Served, bearer
from assistant.records import MARKER, Answer, Citation, Message

router = APIRouter(dependencies=[Depends(bearer)], responses=ERRORS)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat request; sampling options (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


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
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "grounded-assistant"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


_PIECE_END = re.compile(MARKER.pattern + r"\s+(?=[^\s\[])")


def answer_pieces(text: str) -> list[str]:
    """Split an answer after each run of [n] markers: one sentence per piece; joined they are ``text``."""
    cuts = [0, *(m.end() for m in _PIECE_END.finditer(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def split_chat(messages: Sequence[ChatMessageIn]) -> tuple[str, list[Message]]:
    """The last user message is the question; earlier user and assistant turns are the history."""
    if messages[-1].role != "user":
        raise ApiError(422, "the last message must have role 'user'", code="invalid_request")
    history = [Message(role=m.role, content=m.text()) for m in messages[:-1] if m.role in ("user", "assistant")]
    return messages[-1].text(), history


def completion(base: dict[str, Any], answer: Answer, messages: Sequence[ChatMessageIn]) -> ChatCompletion:
    """The whole answer as one ``chat.completion``, with word counts as usage."""
    words = len(answer.answer.split())
    prompt = sum(len(m.text().split()) for m in messages)
    return ChatCompletion(
        **base, choices=[ChatChoice(message=ChatMessageOut(content=answer.answer))],
        usage=Usage(prompt_tokens=prompt, completion_tokens=words, total_tokens=prompt + words),
        citations=answer.citations, abstained=answer.abstained, reason=answer.reason,
    )


def completion_chunks(base: dict[str, Any], answer: Answer) -> Iterator[str]:
    """The answer as SSE data: a role delta, one delta per sentence, a final chunk with citations, [DONE]."""
    yield _chunk(base, {"role": "assistant", "content": ""})
    for piece in answer_pieces(answer.answer):
        yield _chunk(base, {"content": piece})
    cited = [c.model_dump() for c in answer.citations]
    yield _chunk(base, {}, "stop", citations=cited, abstained=answer.abstained, reason=answer.reason)
    yield "[DONE]"


def _chunk(base: dict[str, Any], delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice], **extra}, ensure_ascii=False)


@router.post(
    "/v1/chat/completions", response_model=ChatCompletion, tags=["openai"],
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "With `stream: true`: `chat.completion.chunk` events, the last one with `finish_reason: stop` and "
        "`citations`, then `data: [DONE]`."
    )}},
)
async def chat_completions(body: ChatRequest, served: Served) -> Any:
    """OpenAI-compatible chat: the answer text carries [n] markers, `citations` says what they point to."""
    question, history = split_chat(body.messages)
    served.check_history(len(history))
    answer = await run_in_threadpool(served.ask, question, history)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": served.model_id}
    if body.stream:
        return EventSourceResponse(completion_chunks(base, answer), sep="\n")
    return completion(base, answer, body.messages)


@router.get("/v1/models", response_model=ModelList, tags=["openai"])
def list_models(served: Served) -> ModelList:
    return ModelList(data=[ModelCard(id=served.model_id)])


@router.get("/v1/models/{model_id}", response_model=ModelCard, tags=["openai"],
            responses={404: {"model": ErrorBody, "description": "Unknown model"}})
def get_model(model_id: str, served: Served) -> ModelCard:
    if model_id != served.model_id:
        raise ApiError(404, f"unknown model {model_id!r}; this server serves {served.model_id!r}", code="not_found")
    return ModelCard(id=model_id)
