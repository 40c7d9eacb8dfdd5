"""Stage 5 of an answer, the offline extractive answerer: the decision's sentences, each cited verbatim.

The answer text is the chosen sentences in source order, each followed by its marker; each citation's quote
is the sentence itself with its exact offsets in the source. ``extractive_pass`` runs stages 3 to 5 for a
question whose hits are known (stages 1 and 2 are ``understanding`` and ``retrieval``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.decision import AnswerPolicy, Decision, decide
from assistant.evidence import Evidence, EvidenceRanking, rank_evidence, weights_of
from assistant.records import SPACED_MARKER, Answer, Citation, Context
from assistant.retrieval import Retrieved
from assistant.understanding import Question
from store.records import Hit

ABSTAIN_TEXT = "The documents do not cover this."


@dataclass(frozen=True, slots=True)
class Trace:
    """Every stage's record for one question: what ``assistant eval`` measures stage by stage."""

    question: Question
    retrieved: Retrieved
    evidence: EvidenceRanking
    decision: Decision
    answer: Answer


def extractive_pass(
    question: Question, retrieved: Retrieved, embed: Callable[[str], np.ndarray], policy: AnswerPolicy
) -> Trace:
    """Evidence → decision → answer, each stage once."""
    hits = retrieved.hits
    ranking = rank_evidence(question, hits, embed, retrieved.sentence_vectors, weights_of(policy.evidence_weights))
    decision = decide(ranking, hits, question, policy)
    answer = (abstention(hits, question.standalone, decision.reason) if decision.reason
              else build_answer(decision.chosen, hits, question.standalone))
    return Trace(question, retrieved, ranking, decision, answer)


def shown_text(quote: str) -> str:
    """A quoted sentence as the answer text shows it: the document's own footnote marks ("[7]") are
    left out there, or they would read as our citation markers; the citation keeps the quote verbatim."""
    return SPACED_MARKER.sub("", quote)


def build_answer(chosen: Sequence[Evidence], hits: Sequence[Hit], standalone: str) -> Answer:
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
