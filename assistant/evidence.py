"""How an evidence sentence is scored: a weighted sum of features, with weights learned on the benchmark.

Every sentence of the retrieved chunks (``answering.Candidate``) gets the features below. Its score is
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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

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
