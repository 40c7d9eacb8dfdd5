"""Stage 3 of an answer: every sentence of the hits scored as evidence for the question.

Every sentence of the retrieved chunks (``Evidence``) gets the features below. Its score is
``weights . features``; the weights come from ``assistant/data/evidence_fit.json``, written by
``benchmarks/fit_evidence.py`` (a fit of "this sentence holds the answer's key fact" over every collection
of the benchmark, checked leave-one-collection-out first: docs/calibration.md). They are
scaled so that the dense cosine weighs 1: scores stay in cosine units, so ``AnswerPolicy.keep_within``
(how far below the best a sentence may score and still be quoted) keeps its meaning.

``HAND_SET`` is the hand-set scoring: cosine + 0.3 x term coverage + 0.05 for an answer of the expected
type. It is also what the shipped file holds: no fit has beaten it out of collection yet (the fits measured,
held out, are in docs/calibration.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np

from assistant.instructions import is_instruction
from assistant.questions import QuestionProfile, content_stems, missing_types
from assistant.understanding import Question
from ingest.chunking import FRONT_MATTER_SECTION, is_running_line
from ingest.records import Chunk
from store.records import Hit

MIN_WORDS = 3  # shorter "sentences" are headlines, bylines or page chrome

FEATURES = (
    "dense",  # cosine of the sentence's vector and the question's
    "lexical",  # share of the question's content stems in the sentence
    "typed",  # 1 when the sentence holds an answer of an expected type (a date for "when", ...)
    "rank",  # 1 / rank of its chunk after fusion
    "section",  # share of the question's content stems in the chunk's title and section heading
    "neighbour",  # cosine of the closer of the sentences just before and after it in the chunk
    "position",  # 0 for a chunk's first sentence, 1 for its last
    "length",  # log of its word count, 1 at 40 words
)


@dataclass(frozen=True, slots=True)
class EvidenceWeights:
    weights: tuple[float, ...]  # in FEATURES order, dense = 1
    source: str

    def score(self, features: Sequence[float]) -> float:
        return math.fsum(w * f for w, f in zip(self.weights, features, strict=True))


HAND_SET = EvidenceWeights((1.0, 0.3, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0), "hand-set")


def length_feature(words: int) -> float:
    return math.log(max(words, 1)) / math.log(40)


@cache
def learned_weights() -> EvidenceWeights:
    """The shipped fit (package data)."""
    data = json.loads(files("assistant").joinpath("data/evidence_fit.json").read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise RuntimeError(f"assistant/data/evidence_fit.json weighs {data['features']}, the code computes "
                           f"{list(FEATURES)}: run benchmarks/fit_evidence.py --write")
    return EvidenceWeights(tuple(float(w) for w in data["weights"]), "assistant/data/evidence_fit.json")


def weights_of(given: Sequence[float] | None) -> EvidenceWeights:
    """``AnswerPolicy.evidence_weights`` (checked there: one per feature); the shipped ones when none are given."""
    return learned_weights() if given is None else EvidenceWeights(tuple(float(w) for w in given), "settings")


@dataclass(frozen=True, slots=True)
class Evidence:
    """A sentence of a retrieved chunk, scored against the question."""

    chunk: Chunk
    start: int
    end: int
    text: str
    rank: int  # rank of its chunk after fusion
    features: tuple[float, ...]  # FEATURES
    score: float  # the weighted features: what sentences are ranked by

    @property
    def dense(self) -> float:
        """Cosine with the question (the first feature)."""
        return self.features[0]

    @property
    def key(self) -> tuple[str, int]:
        """Where it is: its source and start (overlapping chunks hold the same sentence)."""
        return self.chunk.source, self.start


@dataclass(frozen=True, slots=True)
class EvidenceRanking:
    """Stage 3's record: the sentences best first, and each part's best sentence (several-part questions)."""

    ranked: tuple[Evidence, ...]
    part_best: tuple[Evidence, ...]  # "Who wrote it and where does he work?": the best for each part


def rank_evidence(
    question: Question, hits: Sequence[Hit], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray], weights: EvidenceWeights | None = None,
) -> EvidenceRanking:
    """Score every sentence of the hits for the question and, for a several-part question, for each part."""
    about = question.about_document
    ranked = score_sentences(hits, question.profile, embed(question.standalone), sentence_vectors, weights, about)
    part_best = []
    for part in question.parts:
        scored = score_sentences(hits, part.profile, embed(part.query), sentence_vectors, weights, about)
        if scored:
            part_best.append(scored[0])
    return EvidenceRanking(tuple(ranked), tuple(part_best))


def score_sentences(
    hits: Sequence[Hit], question: QuestionProfile, query_vector: np.ndarray,
    sentence_vectors: Mapping[str, np.ndarray], weights: EvidenceWeights | None = None,
    about_document: bool = False,
) -> list[Evidence]:
    """Every sentence of the hits once (overlapping chunks repeat sentences), best first. Front matter and a
    man page's running lines only when the question is about the document itself."""
    weighed = weights or learned_weights()
    wanted = set(question.stems)
    seen: set[tuple[str, int, int]] = set()
    found: list[Evidence] = []
    for hit in hits:
        vectors = sentence_vectors.get(hit.chunk.id)
        if vectors is None or (hit.chunk.section == FRONT_MATTER_SECTION and not about_document):
            continue
        dense = vectors @ query_vector
        section = _coverage(wanted, f"{hit.chunk.title} {hit.chunk.section}")
        last = max(len(dense) - 1, 1)
        for i, ((start, end), text) in enumerate(zip(hit.chunk.sentences, hit.chunk.sentence_texts(), strict=True)):
            key = (hit.chunk.source, start, end)
            if key in seen or len(text.split()) < MIN_WORDS or is_instruction(text) or (
                    not about_document and is_running_line(text)):
                continue
            seen.add(key)
            typed = bool(question.expects) and len(missing_types(question.expects, question.text, [text])) < len(
                question.expects
            )
            neighbour = max((float(dense[j]) for j in (i - 1, i + 1) if 0 <= j < len(dense)), default=0.0)
            features = (float(dense[i]), _coverage(wanted, text), float(typed), 1.0 / hit.rank, section, neighbour,
                        i / last, length_feature(len(text.split())))
            found.append(Evidence(hit.chunk, start, end, text, hit.rank, features, weighed.score(features)))
    return sorted(found, key=lambda c: -c.score)


def _coverage(wanted: set[str], text: str) -> float:
    """The share of the question's content stems in ``text``."""
    return len(wanted & set(content_stems(text))) / len(wanted) if wanted else 0.0
