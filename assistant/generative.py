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
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from assistant.answering import shown_text
from assistant.instructions import passage_for_model
from assistant.llm import ChatBackend
from assistant.prompts import Prompts
from assistant.records import Answer, Citation, Message, SentenceVerdict
from assistant.verify import Judgement, Verifier
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
    text: str, chunks: Sequence[Chunk], verifier: Verifier, sentence_vectors: Mapping[str, np.ndarray],
    backend_name: str,
) -> tuple[Answer | None, list[SentenceVerdict]]:
    """The answer of the verified sentences (None if none survived) and the verdict on every sentence."""
    if NOT_IN_DOCUMENTS in text.upper():
        return None, []
    verification = verifier.verify(text, chunks, sentence_vectors)
    for judgement in verification.dropped:
        log.info("dropped generated sentence (%s): %s", judgement.reason, judgement.text)
    citations, parts, verdicts = _number(verification.judgements)
    if not verification.kept:
        return None, verdicts
    answer = Answer(
        answer=" ".join(parts), abstained=False, citations=citations, backend=backend_name,
        dropped_sentences=len(verification.dropped), verdicts=verdicts,
    )
    return answer, verdicts


def _number(judgements: Sequence[Judgement], existing: Sequence[Citation] = ()
            ) -> tuple[list[Citation], list[str], list[SentenceVerdict]]:
    """One citation per distinct quote, numbered in order of first use after the ``existing`` ones (which a quote
    already among them reuses); the text of each kept sentence; the verdict on every sentence."""
    numbers: dict[tuple[str, int], int] = {(c.source, c.start): c.n for c in existing}
    citations: list[Citation] = list(existing)
    parts: list[str] = []
    verdicts: list[SentenceVerdict] = []
    for j in judgements:
        used: list[int] = []
        for q in j.quotes:
            key = (q.chunk.source, q.start)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                citations.append(Citation.of_chunk(numbers[key], q.chunk, q.start, q.end, q.text))
            used.append(numbers[key])
        verdicts.append(SentenceVerdict(sentence=j.text, verdict=j.verdict, reason=j.reason, cited=list(j.cited),
                                        citations=used))
        if j.verdict != "dropped":
            sentence = j.text if j.text.endswith((".", "!", "?")) else j.text + "."
            parts.append(sentence + "".join(f" [{n}]" for n in used))
    return citations, parts, verdicts


def lead_messages(prompts: Prompts, question: str, citations: Sequence[Citation]) -> list[Message]:
    """The constrained role's prompt: only the sentences the extractive answer chose, numbered as its citations."""
    evidence = "\n".join(f"[{c.n}] {html.escape(shown_text(c.quote), quote=False)}" for c in citations)
    return [
        Message(role="system", content=prompts.system),
        Message(role="user", content=prompts.lead.format(evidence=evidence, question=question)),
    ]


def lead_answer(text: str, extractive: Answer, chunks: Sequence[Chunk], verifier: Verifier,
                sentence_vectors: Mapping[str, np.ndarray], backend_name: str) -> Answer:
    """The extractive answer with the model's first verified sentence above its quotes (``chunks[n-1]`` holds
    citation n); the extractive answer alone when no sentence survives."""
    if NOT_IN_DOCUMENTS in text.upper():
        return extractive
    verification = verifier.verify(text, chunks, sentence_vectors)
    judgements = verification.judgements[:1]  # one sentence was asked for; the rest is not shown
    citations, parts, verdicts = _number(judgements, extractive.citations)
    if not parts:
        return extractive.model_copy(update={"verdicts": verdicts, "dropped_sentences": len(verdicts)})
    return extractive.model_copy(update={
        "answer": f"{parts[0]}\n\n{extractive.answer}", "citations": citations, "backend": backend_name,
        "verdicts": verdicts, "dropped_sentences": 0})


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
