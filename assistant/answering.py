"""The offline extractive answerer: the answer is the best few source sentences, each cited.

Sentences of the retrieved chunks are scored against the question (cosine of the precomputed
sentence vectors plus the share of the question's terms they contain), the best few are kept in
source order, and each gets a citation whose quote is the sentence itself, verbatim. Before
answering, the evidence must pass the abstention checks described in ``assistant.questions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.questions import (
    QuestionProfile,
    content_stems,
    has_answer_of_type,
    missing_specifics,
)
from assistant.records import Answer, Citation, Context
from ingest.records import Chunk
from store.records import Hit

ABSTAIN_TEXT = "The documents do not cover this."
LEXICAL_WEIGHT = 0.3  # how much the share of question terms found adds to the cosine
MIN_WORDS = 4  # shorter "sentences" are headlines, bylines or page chrome


@dataclass(frozen=True, slots=True)
class Candidate:
    chunk: Chunk
    start: int
    end: int
    text: str
    dense: float
    lexical: float
    rank: int  # rank of its chunk after fusion

    @property
    def score(self) -> float:
        return self.dense + LEXICAL_WEIGHT * self.lexical


@dataclass(frozen=True, slots=True)
class AnswerPolicy:
    min_evidence: float = 0.40
    max_sentences: int = 3
    keep_within: float = 0.12  # keep sentences scoring within this of the best one


def candidates(
    hits: Sequence[Hit], question_stems: Sequence[str], query_vector: np.ndarray,
    sentence_vectors: Mapping[str, np.ndarray],
) -> list[Candidate]:
    """Every sentence of the hits once (overlapping chunks repeat sentences), best first."""
    wanted = set(question_stems)
    seen: set[tuple[str, int, int]] = set()
    found: list[Candidate] = []
    for hit in hits:
        vectors = sentence_vectors.get(hit.chunk.id)
        if vectors is None:
            continue
        dense = vectors @ query_vector
        for (start, end), text, score in zip(hit.chunk.sentences, hit.chunk.sentence_texts(), dense, strict=True):
            key = (hit.chunk.source, start, end)
            if key in seen or len(text.split()) < MIN_WORDS:
                continue
            seen.add(key)
            lexical = len(wanted & set(content_stems(text))) / len(wanted) if wanted else 0.0
            found.append(Candidate(hit.chunk, start, end, text, float(score), lexical, hit.rank))
    return sorted(found, key=lambda c: -c.score)


def select(ranked: Sequence[Candidate], question: QuestionProfile, policy: AnswerPolicy) -> list[Candidate]:
    """The best sentence, plus those close to it, plus (if needed) one holding the expected answer type."""
    best = ranked[0]
    chosen = [c for c in ranked if c.score >= best.score - policy.keep_within][: policy.max_sentences]
    if not has_answer_of_type(question.expects, question.text, " ".join(c.text for c in chosen)):
        typed = next(
            (c for c in ranked[1:6] if has_answer_of_type(question.expects, question.text, c.text)
             and c.score >= best.score - 2 * policy.keep_within),
            None,
        )
        if typed is None:
            return []
        chosen = [*chosen[: policy.max_sentences - 1], typed]
    return sorted(chosen, key=lambda c: (c.chunk.source, c.start))


def abstain_reason(
    ranked: Sequence[Candidate], hits: Sequence[Hit], question: QuestionProfile, policy: AnswerPolicy
) -> str | None:
    if not ranked:
        return "nothing in the documents matches the question"
    if max(c.dense for c in ranked) < policy.min_evidence:
        return "the closest passages are not about this question"
    missing = missing_specifics(question.specifics, " ".join(h.chunk.text for h in hits))
    if missing:
        return f"the documents do not mention {', '.join(missing)}"
    return None


def build_answer(
    chosen: Sequence[Candidate], hits: Sequence[Hit], standalone: str
) -> Answer:
    citations = [
        Citation(
            n=n, source=c.chunk.source, title=c.chunk.title, section=c.chunk.section, quote=c.text,
            chunk_id=c.chunk.id, start=c.start, end=c.end, page=c.chunk.page,
            url=c.chunk.metadata.get("url"), published=c.chunk.metadata.get("published"),
        )
        for n, c in enumerate(chosen, start=1)
    ]
    text = " ".join(f"{c.text} [{n}]" for n, c in enumerate(chosen, start=1))
    return Answer(
        answer=text, abstained=False, citations=citations, contexts=contexts_of(hits),
        standalone_question=standalone,
    )


def abstention(hits: Sequence[Hit], standalone: str, reason: str) -> Answer:
    return Answer(
        answer=ABSTAIN_TEXT, abstained=True, citations=[], contexts=contexts_of(hits),
        standalone_question=standalone, reason=reason,
    )


def contexts_of(hits: Sequence[Hit]) -> list[Context]:
    return [Context(chunk_id=h.chunk.id, source=h.chunk.source, text=h.chunk.text, score=h.score) for h in hits]


def extractive_answer(
    question: QuestionProfile, standalone: str, hits: Sequence[Hit], query_vector: np.ndarray,
    sentence_vectors: Mapping[str, np.ndarray], policy: AnswerPolicy,
) -> Answer:
    ranked = candidates(hits, question.stems, query_vector, sentence_vectors)
    reason = abstain_reason(ranked, hits, question, policy)
    if reason:
        return abstention(hits, standalone, reason)
    chosen = select(ranked, question, policy)
    if not chosen:
        return abstention(hits, standalone, f"the passages hold no {question.expects} that answers this")
    return build_answer(chosen, hits, standalone)
