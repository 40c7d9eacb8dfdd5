"""The offline extractive answerer: the answer is the best few source sentences, each cited.

Sentences of the retrieved chunks are scored against the question (a weighted sum of features,
assistant/evidence.py: the cosine of the precomputed sentence vectors, the share of the question's
terms they contain, ...), the best few are kept in source order, and each gets a citation whose quote
is the sentence itself, verbatim. Before answering, the evidence must pass the abstention checks
described in ``assistant.questions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.evidence import FEATURES, EvidenceWeights, learned_weights, length_feature, weights_of
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
MIN_WORDS = 3  # shorter "sentences" are headlines, bylines or page chrome
MAX_GAP = 3  # characters between two sentences that follow each other (a space, a paragraph break)


@dataclass(frozen=True, slots=True)
class Candidate:
    chunk: Chunk
    start: int
    end: int
    text: str
    rank: int  # rank of its chunk after fusion
    features: tuple[float, ...]  # assistant/evidence.py FEATURES
    score: float  # the weighted features: what sentences are ranked by

    @property
    def dense(self) -> float:
        """Cosine with the question (the first feature)."""
        return self.features[0]


class AnswerPolicy(BaseModel):
    """When to answer and how much to quote (``Settings.answering``; env ``ASSISTANT_MIN_EVIDENCE``, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_evidence: float = Field(0.22, ge=-1, le=1, description="Abstain below this best sentence similarity.")
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences in an extractive answer.")
    keep_within: float = Field(0.12, ge=0, description="Keep sentences scoring within this of the best one.")
    off_topic_rate: float | None = Field(0.05, gt=0, lt=1, description=(
        "Raise each collection's threshold until at most this share of the shipped off-topic question bank "
        "would be answered (assistant/off_topic.py); none: min_evidence alone."))
    evidence_weights: tuple[float, ...] | None = Field(None, description=(
        "Weights of the evidence-sentence features, comma-separated (assistant/evidence.py FEATURES, dense "
        "first); none: those shipped in assistant/data/evidence_fit.json."))

    @field_validator("evidence_weights", mode="before")
    @classmethod
    def _weights_from_text(cls, value: object) -> object:
        """``ASSISTANT_EVIDENCE_WEIGHTS=1,0.3,...`` (or a JSON list) from the environment."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return tuple(float(part) for part in text.split(",")) if text else None
        return value

    @field_validator("evidence_weights")
    @classmethod
    def _one_weight_per_feature(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and len(value) != len(FEATURES):
            raise ValueError(f"{len(FEATURES)} weights ({', '.join(FEATURES)}), got {len(value)}")
        return value


def candidates(
    hits: Sequence[Hit], question: QuestionProfile, query_vector: np.ndarray,
    sentence_vectors: Mapping[str, np.ndarray], weights: EvidenceWeights | None = None,
) -> list[Candidate]:
    """Every sentence of the hits once (overlapping chunks repeat sentences), best first."""
    weighed = weights or learned_weights()
    wanted = set(question.stems)
    about_document = asks_about_document(question.text)
    seen: set[tuple[str, int, int]] = set()
    found: list[Candidate] = []
    for hit in hits:
        vectors = sentence_vectors.get(hit.chunk.id)
        if vectors is None or (hit.chunk.section == FRONT_MATTER_SECTION and not about_document):
            continue
        dense = vectors @ query_vector
        section = _coverage(wanted, f"{hit.chunk.title} {hit.chunk.section}")
        last = max(len(dense) - 1, 1)
        for i, ((start, end), text) in enumerate(zip(hit.chunk.sentences, hit.chunk.sentence_texts(), strict=True)):
            key = (hit.chunk.source, start, end)
            if key in seen or len(text.split()) < MIN_WORDS or is_instruction(text):
                continue
            seen.add(key)
            typed = bool(question.expects) and len(missing_types(question.expects, question.text, [text])) < len(
                question.expects
            )
            neighbour = max((float(dense[j]) for j in (i - 1, i + 1) if 0 <= j < len(dense)), default=0.0)
            features = (float(dense[i]), _coverage(wanted, text), float(typed), 1.0 / hit.rank, section, neighbour,
                        i / last, length_feature(len(text.split())))
            found.append(Candidate(hit.chunk, start, end, text, hit.rank, features, weighed.score(features)))
    return sorted(found, key=lambda c: -c.score)


def _coverage(wanted: set[str], text: str) -> float:
    """The share of the question's content stems in ``text``."""
    return len(wanted & set(content_stems(text))) / len(wanted) if wanted else 0.0


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
    a chosen one when it refers back to it ("...have this meeting in Washington") or when the chosen one
    announces it (ends in a colon), so each quote can be understood on its own. Neighbours come from any
    retrieved chunk (chunks overlap)."""
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
        if after and after.start - c.end <= MAX_GAP and (refers_back(after.text) or _introduces(c.text)):
            result.setdefault((c.chunk.source, after.start), after)
    return list(result.values())


def _introduces(sentence: str) -> bool:
    """A sentence that ends in a colon ("Debian uses four runlevels:") announces what follows: quoted alone it
    never answers, so the sentence after it comes along."""
    return sentence.rstrip().endswith(":")


def with_parts(
    chosen: list[Candidate], question: str, hits: Sequence[Hit], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray], weights: EvidenceWeights | None = None,
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
        ranked = candidates(hits, profile(part), embed(query), sentence_vectors, weights)
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
    weights = weights_of(policy.evidence_weights)
    ranked = candidates(hits, question, embed(standalone), sentence_vectors, weights)
    reason = abstain_reason(ranked, hits, question, policy)
    if reason:
        return abstention(hits, standalone, reason)
    chosen = select(ranked, question, policy)
    if chosen:
        chosen = with_parts(chosen, question.text, hits, embed, sentence_vectors, weights)
    if not chosen:
        wanted = " or ".join(question.expects)
        return abstention(hits, standalone, f"the passages hold no {wanted} that answers this")
    return build_answer(chosen, hits, standalone)
