"""The offline extractive answerer: the answer is the best few source sentences, each cited.

Sentences of the retrieved chunks are scored against the question (cosine of the precomputed
sentence vectors plus the share of the question's terms they contain), the best few are kept in
source order, and each gets a citation whose quote is the sentence itself, verbatim. Before
answering, the evidence must pass the abstention checks described in ``assistant.questions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from assistant.instructions import is_instruction
from assistant.questions import (
    QuestionProfile,
    asks_about_document,
    content_stems,
    missing_specifics,
    missing_types,
    profile,
    refers_back,
    sub_questions,
)
from assistant.records import SPACED_MARKER, Answer, Citation, Context
from ingest.chunking import FRONT_MATTER_SECTION
from ingest.records import Chunk
from store.records import Hit

ABSTAIN_TEXT = "The documents do not cover this."
LEXICAL_WEIGHT = 0.3  # how much the share of question terms found adds to the cosine
TYPE_BONUS = 0.05  # added when the sentence holds an answer of the expected type (a date for "when")
MIN_WORDS = 3  # shorter "sentences" are headlines, bylines or page chrome
MAX_GAP = 3  # characters between two sentences that follow each other (a space, a paragraph break)


@dataclass(frozen=True, slots=True)
class Candidate:
    chunk: Chunk
    start: int
    end: int
    text: str
    dense: float
    lexical: float
    rank: int  # rank of its chunk after fusion
    typed: bool = False  # holds an answer of an expected type

    @property
    def score(self) -> float:
        return self.dense + LEXICAL_WEIGHT * self.lexical + (TYPE_BONUS if self.typed else 0.0)


class AnswerPolicy(BaseModel):
    """When to answer and how much to quote (``Settings.answering``; env ``ASSISTANT_MIN_EVIDENCE``, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_evidence: float = Field(0.22, ge=-1, le=1, description="Abstain below this best sentence similarity.")
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences in an extractive answer.")
    keep_within: float = Field(0.12, ge=0, description="Keep sentences scoring within this of the best one.")
    off_topic_rate: float | None = Field(0.05, gt=0, lt=1, description=(
        "Raise each collection's threshold until at most this share of the shipped off-topic question bank "
        "would be answered (assistant/off_topic.py); none: min_evidence alone."))


def candidates(
    hits: Sequence[Hit], question: QuestionProfile, query_vector: np.ndarray,
    sentence_vectors: Mapping[str, np.ndarray],
) -> list[Candidate]:
    """Every sentence of the hits once (overlapping chunks repeat sentences), best first."""
    wanted = set(question.stems)
    about_document = asks_about_document(question.text)
    seen: set[tuple[str, int, int]] = set()
    found: list[Candidate] = []
    for hit in hits:
        vectors = sentence_vectors.get(hit.chunk.id)
        if vectors is None or (hit.chunk.section == FRONT_MATTER_SECTION and not about_document):
            continue
        dense = vectors @ query_vector
        for (start, end), text, score in zip(hit.chunk.sentences, hit.chunk.sentence_texts(), dense, strict=True):
            key = (hit.chunk.source, start, end)
            if key in seen or len(text.split()) < MIN_WORDS or is_instruction(text):
                continue
            seen.add(key)
            lexical = len(wanted & set(content_stems(text))) / len(wanted) if wanted else 0.0
            typed = bool(question.expects) and len(missing_types(question.expects, question.text, [text])) < len(
                question.expects
            )
            found.append(Candidate(hit.chunk, start, end, text, float(score), lexical, hit.rank, typed))
    return sorted(found, key=lambda c: -c.score)


def select(ranked: Sequence[Candidate], question: QuestionProfile, policy: AnswerPolicy) -> list[Candidate]:
    """The best sentence and those close to it, one per missing answer type, and their antecedents.

    Returns [] when no sentence near the top holds an answer of an expected type (a date for
    "when", ...): then the passages are on topic but do not answer.
    """
    best = ranked[0]
    chosen = [c for c in ranked if c.score >= best.score - policy.keep_within][: policy.max_sentences]
    for kind in missing_types(question.expects, question.text, [c.text for c in chosen]):
        typed = next(
            (c for c in ranked[1:8] if not missing_types([kind], question.text, [c.text])
             and c.score >= best.score - 2 * policy.keep_within),
            None,
        )
        if typed is None:
            return []
        chosen = [*chosen[: policy.max_sentences - 1], typed] if typed not in chosen else chosen
    return sorted(with_neighbours(chosen, ranked), key=lambda c: (c.chunk.source, c.start))


def with_neighbours(chosen: Sequence[Candidate], pool: Sequence[Candidate]) -> list[Candidate]:
    """Add the sentence before one that refers back ("This difference...") and the sentence after
    a chosen one when it refers back to it ("...have this meeting in Washington"), so each quote can
    be understood on its own. Neighbours come from any retrieved chunk (chunks overlap)."""
    by_source: dict[str, list[Candidate]] = {}
    for c in sorted(pool, key=lambda c: c.start):
        by_source.setdefault(c.chunk.source, []).append(c)
    result = {(c.chunk.source, c.start): c for c in chosen}
    for c in chosen:
        line = by_source.get(c.chunk.source, [])
        index = next((i for i, other in enumerate(line) if other.start == c.start), None)
        if index is None:
            continue
        before = line[index - 1] if index > 0 else None
        after = line[index + 1] if index + 1 < len(line) else None
        if before and c.start - before.end <= MAX_GAP and refers_back(c.text):
            result.setdefault((c.chunk.source, before.start), before)
        if after and after.start - c.end <= MAX_GAP and refers_back(after.text):
            result.setdefault((c.chunk.source, after.start), after)
    return list(result.values())


def with_parts(
    chosen: list[Candidate], question: str, hits: Sequence[Hit], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray],
) -> list[Candidate]:
    """For "Who wrote it and where does he work?", make sure each part has its best sentence."""
    parts = sub_questions(question)
    if len(parts) < 2:
        return chosen
    have = {(c.chunk.source, c.start) for c in chosen}
    extra = []
    for part in parts:
        # a later part ("where does he work?") leans on the first ("Who wrote the article")
        query = part if part == parts[0] else f"{part} ({parts[0]})"
        ranked = candidates(hits, profile(part), embed(query), sentence_vectors)
        if ranked and (ranked[0].chunk.source, ranked[0].start) not in have:
            have.add((ranked[0].chunk.source, ranked[0].start))
            extra.append(ranked[0])
    return sorted([*chosen, *extra], key=lambda c: (c.chunk.source, c.start))


def abstain_reason(
    ranked: Sequence[Candidate], hits: Sequence[Hit], question: QuestionProfile, policy: AnswerPolicy
) -> str | None:
    if not ranked:
        return "nothing in the documents matches the question"
    if max(c.dense for c in ranked) < policy.min_evidence:
        return "the closest passages are not about this question"
    missing = missing_specifics(question.specifics, " ".join(h.chunk.text for h in hits), question.text)
    if missing:
        return f"the documents do not mention {', '.join(missing)}"
    return None




def shown_text(quote: str) -> str:
    """A quoted sentence as the answer text shows it: the document's own footnote marks ("[7]") are
    left out there, or they would read as our citation markers; the citation keeps the quote verbatim."""
    return SPACED_MARKER.sub("", quote)


def build_answer(
    chosen: Sequence[Candidate], hits: Sequence[Hit], standalone: str
) -> Answer:
    citations = [Citation.of_chunk(n, c.chunk, c.start, c.end, c.text) for n, c in enumerate(chosen, start=1)]
    text = " ".join(f"{shown_text(c.text)} [{n}]" for n, c in enumerate(chosen, start=1))
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
    question: QuestionProfile, standalone: str, hits: Sequence[Hit], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray], policy: AnswerPolicy,
) -> Answer:
    ranked = candidates(hits, question, embed(standalone), sentence_vectors)
    reason = abstain_reason(ranked, hits, question, policy)
    if reason:
        return abstention(hits, standalone, reason)
    chosen = select(ranked, question, policy)
    if chosen:
        chosen = with_parts(chosen, question.text, hits, embed, sentence_vectors)
    if not chosen:
        wanted = " or ".join(question.expects)
        return abstention(hits, standalone, f"the passages hold no {wanted} that answers this")
    return build_answer(chosen, hits, standalone)
