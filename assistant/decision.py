"""Stage 4 of an answer: answer or abstain, and with which sentences.

The ranked evidence must pass the abstention checks (``abstain_reason``: a similarity floor, raised to the
collection's own off-topic threshold, and the question's specifics, where a number is no specific when the
passages take one as a placeholder ("--lines=[-]NUM"); ``assistant.questions`` says why a threshold alone is
not enough); then the best sentence and those close to it are chosen, with the sentence
each needs to be understood and one for every part of a several-part question.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.evidence import FEATURES, Evidence, EvidenceRanking
from assistant.questions import QuestionProfile, missing_specifics, missing_types, refers_back
from assistant.understanding import Question
from ingest.chunking import LIST_ITEM
from store.records import Hit

MAX_GAP = 3  # characters between two sentences that follow each other (a space, a paragraph break)


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


@dataclass(frozen=True, slots=True)
class Decision:
    """Stage 4's record: the sentences to quote in source order, or why not to answer."""

    chosen: tuple[Evidence, ...]
    reason: str | None = None  # set when abstaining

    @property
    def abstained(self) -> bool:
        return self.reason is not None


def decide(ranking: EvidenceRanking, hits: Sequence[Hit], question: Question, policy: AnswerPolicy) -> Decision:
    reason = abstain_reason(ranking.ranked, hits, question.profile, policy)
    if reason:
        return Decision((), reason)
    chosen = select(ranking.ranked, question.profile, policy)
    if not chosen:
        return Decision((), f"the passages hold no {' or '.join(question.profile.expects)} that answers this")
    return Decision(tuple(_distinct(with_parts(chosen, ranking.part_best))))


def abstain_reason(
    ranked: Sequence[Evidence], hits: Sequence[Hit], question: QuestionProfile, policy: AnswerPolicy
) -> str | None:
    if not ranked:
        return "nothing in the documents matches the question"
    if max(c.dense for c in ranked) < policy.min_evidence:
        return "the closest passages are not about this question"
    passages = " ".join(h.chunk.text for h in hits)
    missing = missing_specifics(question.specifics, passages, question.text)
    if any(m[0].isdigit() for m in missing) and _PLACEHOLDER.search(passages):  # "the last NUM lines": 5 fills NUM
        missing = [m for m in missing if not m[0].isdigit() or _YEAR.fullmatch(m)]
    if missing:
        return f"the documents do not mention {', '.join(missing)}"
    return None


_YEAR = re.compile(r"(?:19|20)\d\d")  # "in 2019" names a time, not a value to fill in
# a number the reader fills in: "--lines=[-]NUM", "--max-depth=N", "-n COUNT", "HEAD~<n>"
_PLACEHOLDER = re.compile(r"(?<![\w-])(?:NUM|COUNT|NUMBER)(?![\w-])|[=\[][\[\]+-]*N\b|<(?:n|num|number|count)>")


def select(ranked: Sequence[Evidence], question: QuestionProfile, policy: AnswerPolicy) -> list[Evidence]:
    """The best sentence and those close to it, one per missing answer type, and their antecedents.

    Returns [] when no sentence near the top, nor one that comes along with them, holds an answer of an
    expected type (a date for "when", ...): then the passages are on topic but do not answer.
    """
    best = ranked[0]
    chosen = _distinct([c for c in ranked if c.score >= best.score - policy.keep_within])[: policy.max_sentences]
    quoted = with_neighbours(chosen, ranked)  # "... does not work." / "This bug is fixed in versions 6.5.5 ..."
    untyped = missing_types(question.expects, question.text, [c.text for c in quoted])
    for kind in untyped:
        typed = next(
            (c for c in ranked[1:8] if not missing_types([kind], question.text, [c.text])
             and c.score >= best.score - 2 * policy.keep_within),
            None,
        )
        if typed is None:
            return []
        chosen = [*chosen[: policy.max_sentences - 1], typed] if typed not in chosen else chosen
    if untyped:  # a typed sentence joined: its neighbours too
        quoted = with_neighbours(chosen, ranked)
    return sorted(quoted, key=lambda c: c.key)


def _distinct(ranked: Sequence[Evidence]) -> list[Evidence]:
    """Without a sentence whose words repeat one ranked above it: the same document under two names, or a
    manual that says the same thing on two pages, would otherwise fill the answer with one fact twice."""
    seen: set[str] = set()
    kept = []
    for c in ranked:
        words = " ".join(_WORDS.findall(c.text.lower()))
        if words not in seen:
            seen.add(words)
            kept.append(c)
    return kept


_WORDS = re.compile(r"\w+")


def with_neighbours(chosen: Sequence[Evidence], pool: Sequence[Evidence]) -> list[Evidence]:
    """Add the sentence before one that refers back ("This difference...") and the sentence after
    a chosen one when it refers back to it ("...have this meeting in Washington"), when the chosen one
    announces it (ends in a colon; of a list, the item that scores best), or when it gives the default of what
    the chosen one describes ("Default value is 1cm."), so each quote can be understood on its own. Neighbours
    come from any retrieved chunk (chunks overlap)."""
    by_source: dict[str, list[Evidence]] = {}
    for c in sorted(pool, key=lambda c: c.start):
        by_source.setdefault(c.chunk.source, []).append(c)
    result = {c.key: c for c in chosen}
    queue = list(chosen)
    for n, c in enumerate(queue):  # a sentence that came along for what announced it brings its own follower
        line = by_source.get(c.chunk.source, [])
        index = next((i for i, other in enumerate(line) if other.start == c.start), None)
        if index is None:
            continue
        before = line[index - 1] if index > 0 else None
        after = line[index + 1] if index + 1 < len(line) else None
        if before and c.start - before.end <= MAX_GAP and refers_back(c.text):
            result.setdefault(before.key, before)
        into_code = after is not None and _runs_into_code(c, after)
        listed = bool(after and after.start - c.end <= MAX_GAP and c.text.rstrip().endswith(":")
                      and LIST_ITEM.match(after.text))
        if listed:
            after = _best_item(line[index + 1 :])  # "uses four runlevels:" / the item the question asks about
        if after and (after.start - c.end <= MAX_GAP or into_code or listed) and after.key not in result:
            announced = _introduces(c.text, after.text) or into_code
            if announced or refers_back(after.text) or _DEFAULT.match(after.text.lstrip()):
                result[after.key] = after
            if announced and n < len(chosen):  # ("As such, ..."): one step on from a chosen sentence only
                queue.append(after)
    return list(result.values())


def _best_item(following: Sequence[Evidence]) -> Evidence:
    """Of the list a sentence announces, the item scored best for the question ("By default, System V init in
    Debian uses four different runlevels:" answers "what is runlevel 1 for?" with "- Level 1, also known as
    single-user mode, ..."); the first item when none scores better. The list ends where a sentence that is no
    item follows a gap wider than a line break."""
    items = [following[0]]
    for before, sentence in itertools.pairwise(following[:_MAX_ITEMS]):
        if not LIST_ITEM.match(sentence.text) and sentence.start - before.end > MAX_GAP:
            break
        if LIST_ITEM.match(sentence.text):
            items.append(sentence)
    return max(items, key=lambda c: c.score)


_MAX_ITEMS = 12  # sentences after an announcing one searched for its list's items


# "lineheight=dim sets the height of each line. Default value is 1cm.": the default of what the sentence before sets
_DEFAULT = re.compile(r"(?:the\s+)?default(?:\s+value)?\s+(?:is|are)\b|defaults?\s+to\b", re.IGNORECASE)


def _runs_into_code(sentence: Evidence, after: Evidence) -> bool:
    """A sentence that stops short of its end where a code block begins ("So after you do a cp -a to create a
    new copy, you'll want to do" / $ git update-index): the code is the rest of the sentence."""
    chunk = next((c for c in (sentence.chunk, after.chunk) if c.start <= sentence.end and after.end <= c.end), None)
    if chunk is None or sentence.text.rstrip().endswith((".", "!", "?", ";")):
        return False
    return chunk.text[sentence.end - chunk.start : after.start - chunk.start].strip() == "```"


def _introduces(sentence: str, after: str) -> bool:
    """A sentence that ends in a colon ("Debian uses four runlevels:") announces what follows, a question asks
    it ("But what if you want to commit only some files?"), and a term is described by what follows its colon
    (a FAQ entry: "I'm on Windows and git diff shows ^M at the end." / ": By default, Git expects ..."): quoted
    alone none of them answers, so the sentence after it comes along."""
    return sentence.rstrip().endswith((":", "?")) or after.lstrip().startswith(":")


def with_parts(chosen: Sequence[Evidence], part_best: Sequence[Evidence]) -> list[Evidence]:
    """For "Who wrote it and where does he work?", each part's best sentence joins the chosen ones."""
    by_key = {c.key: c for c in chosen}
    for best in part_best:
        by_key.setdefault(best.key, best)
    return sorted(by_key.values(), key=lambda c: c.key)
