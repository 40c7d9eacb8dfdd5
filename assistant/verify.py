"""Citation verification for generated answers: a sentence stays only if a passage it cites supports it.

Support means: every number, date and proper name of the sentence occurs in the cited passage, and
one sentence of that passage is close to it (cosine of the embeddings, or a high share of shared
terms). The verified citation quotes that passage sentence verbatim, with its offsets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.instructions import instruction_sentences
from assistant.questions import content_stems, missing_specifics, specifics
from assistant.records import SPACED_MARKER
from ingest.chunking import sentence_spans
from ingest.records import Chunk

_LEADING_MARKERS = re.compile(rf"(?:{SPACED_MARKER.pattern})+\s*")  # markers before the first word of a sentence
MIN_COSINE = 0.55  # close enough on its own
MIN_COSINE_WITH_TERMS = 0.35  # close enough when most of the sentence's terms are in the quote
MIN_TERM_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class VerifiedSentence:
    text: str  # the generated sentence without its markers
    chunk: Chunk
    start: int  # the supporting quote's offsets in the source
    end: int
    quote: str


@dataclass(frozen=True, slots=True)
class Verification:
    kept: list[VerifiedSentence]
    dropped: list[tuple[str, str]]  # (sentence, why)


def split_claims(text: str) -> list[tuple[str, list[int]]]:
    """Generated text -> [(sentence without markers, cited passage numbers)]."""
    claims: list[tuple[str, list[int]]] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and claims:  # "A. [1] B. [2]": the sentence splitter hands A's marker to B
            claims.append(("", [int(n) for n in SPACED_MARKER.findall(leading.group())]))
            sentence = sentence[leading.end() :]
        numbers = [int(n) for n in SPACED_MARKER.findall(sentence)]
        claim = SPACED_MARKER.sub("", sentence).strip()
        if claim.strip(" .") or numbers:
            claims.append((claim, numbers))
    return _attach_trailing_markers(claims)


def _attach_trailing_markers(claims: list[tuple[str, list[int]]]) -> list[tuple[str, list[int]]]:
    """"Fact. [2]" splits into "Fact." and "[2]": give the lone marker to the sentence before it."""
    merged: list[tuple[str, list[int]]] = []
    for claim, numbers in claims:
        if not claim.strip(" .") and merged:
            merged[-1] = (merged[-1][0], merged[-1][1] + numbers)
        elif claim.strip(" ."):
            merged.append((claim, numbers))
    return merged


def verify(
    text: str, passages: Sequence[Chunk], embed: Callable[[str], np.ndarray],
    sentence_vectors: Mapping[str, np.ndarray],
) -> Verification:
    kept: list[VerifiedSentence] = []
    dropped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for claim, numbers in split_claims(text):
        key = " ".join(claim.lower().split())
        if key in seen:
            dropped.append((claim, "repeats an earlier sentence"))
            continue
        seen.add(key)
        verdict = _support(claim, numbers, passages, embed, sentence_vectors)
        if isinstance(verdict, str):
            dropped.append((claim, verdict))
        else:
            kept.append(verdict)
    return Verification(kept, dropped)


def _support(claim: str, numbers: list[int], passages: Sequence[Chunk], embed, sentence_vectors):
    if not numbers:
        return "cites no passage"
    valid = [passages[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(passages)]
    if not valid:
        return f"cites passage {numbers[0]}, which does not exist"
    vector = embed(claim)
    claim_stems = set(content_stems(claim))
    for chunk in valid:
        if missing_specifics(specifics(claim), chunk.text):
            continue
        vectors = sentence_vectors.get(chunk.id)
        if vectors is None:
            continue
        cosines = vectors @ vector
        for withheld in instruction_sentences(chunk):  # never support: the model was not shown them
            cosines[withheld] = -np.inf
        best = int(np.argmax(cosines))
        if not np.isfinite(cosines[best]):
            continue
        start, end = chunk.sentences[best]
        quote = chunk.text[start - chunk.start : end - chunk.start]
        share = len(claim_stems & set(content_stems(quote))) / len(claim_stems) if claim_stems else 0.0
        if cosines[best] >= MIN_COSINE or (cosines[best] >= MIN_COSINE_WITH_TERMS and share >= MIN_TERM_SHARE):
            return VerifiedSentence(claim, chunk, start, end, quote)
    missing = missing_specifics(specifics(claim), " ".join(c.text for c in valid))
    if missing:
        return f"{', '.join(missing)} not in the cited passage"
    return "the cited passage does not support it"
