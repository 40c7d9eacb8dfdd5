"""Generated answers that cannot cite what is not there.

The language model sees only fenced, numbered passages (documents are data, and sentences in them
addressed to the assistant are withheld), and writes sentences
with [n] markers; every sentence is then verified against what it cites (assistant.verify). If no
sentence survives, the extractive answer stands in. The same abstention checks as the extractive
path run first, so an unanswerable question never reaches the model.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from assistant.instructions import passage_for_model
from assistant.llm import ChatBackend
from assistant.prompts import Prompts
from assistant.records import Answer, Citation, Message
from assistant.verify import VerifiedSentence, verify
from ingest.records import Chunk

log = logging.getLogger(__name__)

NOT_IN_DOCUMENTS = "NOT IN DOCUMENTS"


def fenced_passages(chunks: Sequence[Chunk]) -> str:
    """Passages as labelled data blocks; markup inside them is escaped so it cannot close a fence.

    Sentences addressed to the assistant are withheld (assistant.instructions): the model never reads them.
    """
    return "\n\n".join(
        f'<passage n="{n}" title="{html.escape(c.title)}" section="{html.escape(c.section)}">\n'
        f"{html.escape(passage_for_model(c), quote=False)}\n</passage>"
        for n, c in enumerate(chunks, start=1)
    )


def answer_messages(prompts: Prompts, question: str, chunks: Sequence[Chunk]) -> list[Message]:
    return [
        Message(role="system", content=prompts.system),
        Message(role="user", content=prompts.answer.format(passages=fenced_passages(chunks), question=question)),
    ]


def repeats(text: str) -> bool:
    """Has the model started repeating a sentence it already wrote? (Small models loop.)"""
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]
    return len(sentences) != len(set(sentences))


def verified_answer(
    text: str, chunks: Sequence[Chunk], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray], backend_name: str,
) -> tuple[Answer | None, int]:
    """The answer of the verified sentences (None if none survived) and how many were dropped."""
    if NOT_IN_DOCUMENTS in text.upper():
        return None, 0
    verification = verify(text, chunks, embed, sentence_vectors)
    for sentence, why in verification.dropped:
        log.info("dropped generated sentence (%s): %s", why, sentence)
    if not verification.kept:
        return None, len(verification.dropped)
    citations, parts = _number(verification.kept)
    answer = Answer(
        answer=" ".join(parts), abstained=False, citations=citations, backend=backend_name,
        dropped_sentences=len(verification.dropped),
    )
    return answer, len(verification.dropped)


def _number(kept: Sequence[VerifiedSentence]) -> tuple[list[Citation], list[str]]:
    """One citation per distinct quote, numbered in order of first use."""
    numbers: dict[tuple[str, int], int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    for s in kept:
        key = (s.chunk.source, s.start)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            citations.append(Citation.of_chunk(numbers[key], s.chunk, s.start, s.end, s.quote))
        sentence = s.text if s.text.endswith((".", "!", "?")) else s.text + "."
        parts.append(f"{sentence} [{numbers[key]}]")
    return citations, parts


def condense_with_model(
    backend: ChatBackend, prompts: Prompts, question: str, history: Sequence[Message]
) -> str | None:
    """A standalone rewrite of a follow-up, or None when the model's reply is not a usable question."""
    transcript = "\n".join(f"{m.role}: {m.content}" for m in history[-6:])
    messages = [Message(role="user", content=prompts.condense.format(history=transcript, question=question))]
    reply = "".join(_take(backend.stream(messages), 400)).strip().splitlines()
    rewrite = reply[0].strip().strip('"') if reply else ""
    if not rewrite.endswith("?") or not 8 <= len(rewrite) <= 300:
        return None
    return rewrite


def _take(pieces: Iterator[str], limit: int) -> Iterator[str]:
    total = 0
    for piece in pieces:
        total += len(piece)
        yield piece
        if total >= limit:
            return
