"""Citation verification for generated answers: a sentence stays only if the passages it cites support it.

For each generated sentence the verifier finds its support: the cited passages' sentences closest to it
(one, or up to ``window`` when the claim joins facts from several sentences or passages). The sentence is
supported when, against that support text:
- every number, date and name it states is there, compared as values (assistant/claims.py); a number, option
  or path may also be in another sentence of the same paragraph, which then joins the support
  (assistant/support.py);
- it neither negates nor reverses it (a negation or an antonym on one side only);
- it adds nothing: each of its content words is in the support, or close to one of its words (word
  vectors from the same embedding model, so "purchase" supports "buy");
- and it is close to it as a whole (cosine, or a high share of shared terms).
A sentence its cited passage does not support, but another passage shown to the model does, keeps its
place with the citation moved there (verdict "moved"), unless the cited passage says the opposite or says the
same with another value ("128 bits" for the claim's "64 bits"). Every
other failure drops the sentence, with why. The kept sentence's citations quote its support sentences
verbatim, with their offsets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from assistant.claims import content_words, contradiction, missing_values
from assistant.records import MARKER, SPACED_MARKER
from assistant.support import (
    Quote,
    absent_words,
    ranked_sentences,
    support_window,
    swapped_entry,
    swapped_value,
    title_names,
    with_values_nearby,
)
from ingest.chunking import sentence_spans
from ingest.records import Chunk

_LEADING_MARKERS = re.compile(rf"(?:{SPACED_MARKER.pattern})+\s*")  # markers before the first word of a sentence


class VerifierConfig(BaseModel):
    """How strict verification is (``Settings.verification``; env ``ASSISTANT_VERIFY_MIN_COSINE``, ...).

    The defaults are chosen on the verification benchmark leave-one-collection-out (docs/calibration.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    word_match: float = Field(0.6, ge=-1, le=1, description=(
        "A content word absent from the support still counts as supported when its vector is at least this close "
        "to one of the support's words."))
    min_support: float | None = Field(None, ge=0, le=1, description=(
        "Keep a sentence whose support scores at least this (0-1); default: the fitted threshold "
        "(assistant/data/verifier_fit.json)."))
    window_floor: float = Field(0.35, ge=-1, le=1, description="Least cosine of a sentence joined to the support.")
    window: int = Field(2, ge=1, le=6, description=(
        "Most support sentences joined for one generated sentence (besides the closest of each cited passage)."))
    move_citations: bool = Field(True, description=(
        "A sentence its citation does not support, but another shown passage does, is kept with the citation "
        "moved (not when the cited passage says the opposite); off: such sentences are dropped."))


@dataclass(frozen=True, slots=True)
class Judgement:
    """What verification did with one generated sentence."""

    text: str  # the sentence without its markers
    cited: tuple[int, ...]  # the passage numbers the model gave
    verdict: Literal["kept", "moved", "dropped"]
    reason: str | None = None
    quotes: tuple[Quote, ...] = ()


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Why passages do not support a sentence; ``reversed``: they say otherwise (the opposite, or the same thing
    with another value), so the sentence is dropped rather than its citation moved to a passage that merely does
    not contradict it."""

    reason: str
    reversed: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    judgements: list[Judgement]

    @property
    def kept(self) -> list[Judgement]:
        return [j for j in self.judgements if j.verdict != "dropped"]

    @property
    def dropped(self) -> list[Judgement]:
        return [j for j in self.judgements if j.verdict == "dropped"]


def split_claims(text: str) -> list[tuple[str, list[int]]]:
    """Generated text -> [(sentence without markers, cited passage numbers)]."""
    return [(claim, numbers) for claim, numbers, _ in claims_with_parts(text)]


Part = tuple[str, list[int]]  # a stretch of a sentence up to its markers, and the passages they cite
Sentence = tuple[str, list[int], list[Part]]  # without markers, all it cites, its parts (or none)


def claims_with_parts(text: str) -> list[Sentence]:
    """Each sentence without markers, all it cites, and its parts: "A [1], and B [2]." has the parts A (citing
    1) and "and B." (citing 2), each verified against its own citation."""
    claims: list[Sentence] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and claims:  # "A. [1] B. [2]": the sentence splitter hands A's marker to B
            claims.append(("", [int(n) for n in SPACED_MARKER.findall(leading.group())], []))
            sentence = sentence[leading.end() :]
        numbers = [int(n) for n in SPACED_MARKER.findall(sentence)]
        claim = SPACED_MARKER.sub("", sentence).strip()
        if claim.strip(" .") or numbers:
            claims.append((claim, numbers, _parts(sentence)))
    return _attach_trailing_markers(claims)


def _parts(sentence: str) -> list[Part]:
    parts: list[Part] = []
    at = 0
    for group in re.finditer(rf"(?:{SPACED_MARKER.pattern})+", sentence):
        piece = sentence[at : group.start()].strip(" ,;")
        cited = [int(n) for n in MARKER.findall(group.group())]
        if len(piece.split()) >= 3:
            parts.append((piece, cited))
        elif parts:  # a short stretch ("and [2]") belongs to the part before it
            parts[-1] = (f"{parts[-1][0]} {piece}".strip(), parts[-1][1] + cited)
        at = group.end()
    rest = sentence[at:].strip(" ,;")
    if parts and rest.strip(" .!?"):
        parts[-1] = (f"{parts[-1][0]} {rest}", parts[-1][1])
    return parts if len(parts) > 1 else []


def _attach_trailing_markers(claims: list[Sentence]) -> list[Sentence]:
    """"Fact. [2]" splits into "Fact." and "[2]": give the lone marker to the sentence before it."""
    merged: list[Sentence] = []
    for claim, numbers, parts in claims:
        if not claim.strip(" .") and merged:
            before = merged[-1]
            merged[-1] = (before[0], before[1] + numbers, before[2])
        elif claim.strip(" ."):
            merged.append((claim, numbers, parts))
    return merged


@dataclass
class WordVectors:
    """Vectors of single words, encoded in one batch per sentence and kept for the next."""

    encode: Callable[[Sequence[str]], np.ndarray]
    known: dict[str, np.ndarray] = field(default_factory=dict)
    limit: int = 20_000  # words kept (~30 MB); a long-running server starts over past it

    def __call__(self, wanted: Sequence[str]) -> np.ndarray:
        new = [w for w in dict.fromkeys(wanted) if w not in self.known]
        if new:
            if len(self.known) + len(new) > self.limit:
                self.known.clear()
            self.known.update(zip(new, self.encode(new), strict=True))
        return np.stack([self.known[w] for w in wanted]) if wanted else np.zeros((0, 1), dtype=np.float32)


class Verifier:
    def __init__(self, embed: Callable[[str], np.ndarray], encode: Callable[[Sequence[str]], np.ndarray],
                 config: VerifierConfig | None = None, fit: SupportFit | None = None,
                 known_words: frozenset[str] = frozenset()) -> None:
        """``known_words``: the English the encoder knows (``Embedder.whole_words``), which tells a made-up
        identifier from a word (``claims.near_misses``); empty: no such check."""
        self.embed = embed
        self.known_words = known_words
        self.word_vectors = WordVectors(encode)
        self.config = config or VerifierConfig()
        self.fit = fit or support_fit()

    def verify(self, text: str, passages: Sequence[Chunk], sentence_vectors: Mapping[str, np.ndarray]) -> Verification:
        judgements: list[Judgement] = []
        seen: set[str] = set()
        for claim, numbers, parts in claims_with_parts(text):
            key = " ".join(claim.lower().split())
            if key in seen:
                judgements.append(Judgement(claim, tuple(numbers), "dropped", "repeats an earlier sentence"))
                continue
            seen.add(key)
            judgements.append(self.judge_sentence(claim, numbers, parts, passages, sentence_vectors))
        return Verification(judgements)

    def judge_sentence(self, claim: str, numbers: Sequence[int], parts: Sequence[Part], passages: Sequence[Chunk],
                       sentence_vectors: Mapping[str, np.ndarray]) -> Judgement:
        """A sentence whose parts cite different passages holds when every part holds."""
        if not parts:
            return self.judge(claim, numbers, passages, sentence_vectors)
        judged = [self.judge(text, cited, passages, sentence_vectors) for text, cited in parts]
        failed = next((j for j in judged if j.verdict == "dropped"), None)
        if failed is not None:
            return Judgement(claim, tuple(numbers), "dropped", f"{failed.reason} (in “{failed.text}”)")
        moved = [j.reason for j in judged if j.verdict == "moved"]
        quotes = tuple(q for j in judged for q in j.quotes)
        return Judgement(claim, tuple(numbers), "moved" if moved else "kept", "; ".join(moved) or None, quotes)

    def judge(self, claim: str, numbers: Sequence[int], passages: Sequence[Chunk],
              sentence_vectors: Mapping[str, np.ndarray]) -> Judgement:
        cited = tuple(numbers)
        if not numbers:
            return Judgement(claim, cited, "dropped", "cites no passage")
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(passages)]
        vector = self.embed(claim)
        if valid:
            found = self._support(claim, vector, [passages[n - 1] for n in valid], sentence_vectors)
            if isinstance(found, tuple):
                return Judgement(claim, cited, "kept", quotes=found)
            why, reversed_ = found.reason, found.reversed
        else:
            why, reversed_ = f"cites passage {numbers[0]}, which does not exist", False
        if self.config.move_citations and not reversed_:  # it says the opposite: no citation slip
            for n, chunk in enumerate(passages, start=1):
                if n in valid:
                    continue
                moved = self._support(claim, vector, [chunk], sentence_vectors)
                if isinstance(moved, tuple):
                    return Judgement(claim, cited, "moved", f"{why}; passage {n} does", moved)
        return Judgement(claim, cited, "dropped", why)

    def _support(self, claim: str, vector: np.ndarray, chunks: Sequence[Chunk],
                 sentence_vectors: Mapping[str, np.ndarray]) -> tuple[Quote, ...] | Unsupported:
        """The quotes that support ``claim`` in ``chunks``, or why there are none."""
        found = self.measure(claim, vector, chunks, sentence_vectors)
        if isinstance(found, str):
            return Unsupported(found)
        window, measured = found
        why = measured.failure(self.config, self.fit)
        if why:
            return Unsupported(why, reversed=measured.reversal is not None or self._other_value(measured))
        return tuple(sorted(window, key=lambda q: (q.chunk.source, q.start)))

    def measure(self, claim: str, vector: np.ndarray, chunks: Sequence[Chunk],
                sentence_vectors: Mapping[str, np.ndarray]) -> tuple[list[Quote], Measured] | str:
        """The support window of ``claim`` in ``chunks`` and how well it holds the claim."""
        ranked = ranked_sentences(vector, chunks, sentence_vectors)
        if not ranked:
            return "the cited passage does not support it"
        wanted = content_words(claim)
        window = support_window(wanted, ranked, self.config.window, self.config.window_floor)
        support = " ".join(q.text for q in window)
        around = " ".join([*(f"{c.title} {c.section}" for c in chunks), *title_names(chunks)])  # names in headings
        absent = absent_words(wanted, support)
        unmatched = self._unmatched(absent, support)
        measured = Measured(
            words=len(wanted), unmatched=unmatched,
            worst_clause=_worst_clause(claim, set(unmatched)),
            held=self._held(claim, support),
            missing=missing_values(claim, support, around, self.known_words),
            reversal=contradiction(claim, support, self._close) or swapped_entry(claim, window)
            or swapped_value(claim, window))
        if measured.missing:
            window, missing = with_values_nearby(claim, window, measured.missing, ranked, around)
            measured = replace(measured, missing=missing)
        return window, measured

    def _other_value(self, measured: Measured) -> bool:
        """The passage says what the claim says, words and all, with another value ("extends the addressing
        space to 128 bits" for "... to 64 bits"): a wrong value, not a citation slip to move elsewhere."""
        return bool(measured.missing) and measured.scores_enough(self.config, self.fit)

    def _held(self, claim: str, support: str) -> tuple[float, float]:
        """Cosines (encoded afresh, not pooled) of the claim and of its least supported clause with the support
        text: an added clause is far from every support sentence, a paraphrased one is not."""
        target = self.embed(support)
        whole = float(self.embed(claim) @ target)
        clauses = [c.strip() for c in _CLAUSE_BREAK.split(claim) if len(content_words(c)) >= 2]
        weakest = min((float(self.embed(c) @ target) for c in clauses), default=whole) if len(clauses) > 1 else whole
        return whole, weakest

    def _close(self, word: str, others: set[str]) -> bool:
        """Is ``word`` close to one of ``others`` (word vectors), as "purchase" is to "buy"?"""
        return bool(others) and self._closeness([word], sorted(others))[0] >= self.config.word_match

    def _unmatched(self, absent: Sequence[str], support: str) -> list[str]:
        """Of the claim's content words absent from the support, those not close to one of its words either."""
        pool = [w for w, _ in content_words(support)]
        if not absent or not pool:
            return list(absent)
        closeness = self._closeness(absent, pool)
        return [w for w, best in zip(absent, closeness, strict=True) if best < self.config.word_match]

    def _closeness(self, words: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        """For each of ``words``, its cosine with the closest word of ``pool``."""
        return (self.word_vectors(words) @ self.word_vectors(pool).T).max(axis=1)


@dataclass(frozen=True, slots=True)
class Measured:
    """How well a support window holds a claim: what verification decides on."""

    words: int  # content words of the claim
    unmatched: list[str]  # its content words neither in the support nor close to one of its words
    worst_clause: float  # the largest share of unmatched words in one clause of the claim
    held: tuple[float, float]  # cosines of the claim and of its least supported clause with the support text
    missing: list[str]  # numbers, dates and names not in the support
    reversal: str | None  # a negation or antonym on one side only

    def features(self) -> list[float]:
        """What the fitted support score weighs (assistant/data/verifier_fit.json names them in this order)."""
        return [*self.held, len(self.unmatched) / max(self.words, 1), self.worst_clause, float(len(self.unmatched))]

    def scores_enough(self, c: VerifierConfig, fit: SupportFit) -> bool:
        """Whether the fitted support score reaches ``min_support`` (default: the fit's threshold)."""
        return fit.score(self.features()) >= (c.min_support if c.min_support is not None else fit.threshold)

    def failure(self, c: VerifierConfig, fit: SupportFit) -> str | None:
        """Why the window does not support the claim, or None when it does."""
        if self.missing:
            return f"{', '.join(self.missing)} not in the cited passage"
        if self.reversal:
            return self.reversal
        if self.scores_enough(c, fit):
            return None
        if self.unmatched:
            return f"adds what the passage does not say: {', '.join(self.unmatched)}"
        return "the cited passage does not support it"


FEATURES = ("held", "weakest_clause", "unmatched_share", "worst_clause", "unmatched")
_CLAUSE_BREAK = re.compile(r"[,;:()]|\s(?:and|but|which|because|while|whereas|so|then|since|although|who|where)\s",
                           re.IGNORECASE)


def _worst_clause(claim: str, unmatched: set[str]) -> float:
    """The largest share of unmatched content words in one clause: an added clause stands out, a paraphrase
    spreads its new words over the sentence."""
    worst = 0.0
    for clause in _CLAUSE_BREAK.split(claim):
        own = [w for w, _ in content_words(clause)]
        if len(own) >= 2:
            worst = max(worst, sum(w in unmatched for w in own) / len(own))
    return worst


@dataclass(frozen=True, slots=True)
class SupportFit:
    """A logistic regression over ``FEATURES``, fitted leave-one-collection-out on the verification benchmark."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def score(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(w * x for w, x in zip(self.coef, features, strict=True))
        return float(1 / (1 + np.exp(-z)))


@lru_cache(maxsize=1)
def support_fit() -> SupportFit:
    data = json.loads(files("assistant").joinpath("data/verifier_fit.json").read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError("assistant/data/verifier_fit.json was fitted on other features; refit it")
    return SupportFit(tuple(data["coef"]), data["intercept"], data["threshold"])
