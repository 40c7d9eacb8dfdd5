"""Answer-quality evaluation over a question set (the format of tests/data/dev_questions.jsonl).

Each line: ``question``, optional ``history``, ``must`` (groups of alternatives; the answer must
contain one of each group), ``evidence`` (verbatim supporting text), optional ``page`` (PDFs: the page
the evidence is on; ``page_cited`` counts answers that cite it), or ``abstain: true``.

Asked through ``Assistant.trace`` (the extractive pipeline's records of every stage), each stage is also
measured on its own: retrieval (``recall@k``: a retrieved chunk holds the evidence), evidence ranking
(``evidence@k``: a sentence holding a key fact ranks in the top k of the scored sentences) and the decision
(``decision_accuracy``: answered when answerable, abstained when not).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.answering import Trace
from assistant.errors import validation_summary
from assistant.records import Answer, Message
from ingest.loaders import IngestError, load

RECALL_AT = (1, 3, 5)
EVIDENCE_AT = (1, 3)


def normalize(text: str) -> str:
    """Compare text ignoring case, runs of whitespace and curly vs straight quotes."""
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
    return " ".join(text.translate(table).split()).lower()


class EvalQuestion(BaseModel):
    """One line of a question set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    question: str
    history: list[Message] = Field(default_factory=list)
    must: list[list[str]] = Field(default_factory=list, description="Groups of alternatives: one of each group.")
    evidence: list[str] = Field(default_factory=list, description="Verbatim text that supports the answer.")
    page: int | None = Field(None, description="PDFs: the page the evidence is on.")
    abstain: bool = Field(False, description="The documents do not answer it: the assistant should abstain.")
    kind: str = Field("", description="What sort of question (for reading results; not scored).")
    answer: str = Field("", description="A reference answer (for reading results; not scored).")

    def holds_a_key_fact(self, text: str) -> bool:
        """Whether ``text`` (one sentence) holds one alternative of any ``must`` group: the label of an evidence
        sentence, where the answer must hold one of each group."""
        found = normalize(text)
        return any(normalize(alternative) in found for group in self.must for alternative in group)


def load_questions(path: Path) -> list[EvalQuestion]:
    """The questions of a JSONL file; ValueError naming the line for one that is not a question."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = EvalQuestion.model_validate_json(line)
        except ValidationError as exc:
            raise ValueError(f"{path}:{number}: not a question ({validation_summary(exc)})") from exc
        rows.append(row if row.id else row.model_copy(update={"id": f"q{number}"}))
    return rows


@dataclass
class QuestionResult:
    id: str
    question: str
    abstain_expected: bool
    abstained: bool
    answer: str
    seconds: float
    evidence_rank: int | None = None  # 1-based rank of the first context holding evidence
    key_fact_sentence_rank: int | None = None  # 1-based rank of the first scored sentence holding a key fact
    sentences_ranked: bool = False  # asked through Assistant.trace, with key facts to look for
    key_facts: bool | None = None
    supported: bool | None = None  # a cited chunk contains the evidence
    quotes_verbatim: bool = True
    citations: int = 0
    backend: str = "extractive"
    generated_kept: int = 0  # generated sentences that passed verification
    generated_dropped: int = 0
    page_cited: bool | None = None  # PDFs: a citation names the page the evidence is on (row "page")
    kind: str = ""  # the row's kind (not_covered and off_topic get their own abstention recall)
    reason: str | None = None  # why the assistant abstained, when it did


@dataclass
class EvalReport:
    results: list[QuestionResult] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)


class SourceTexts:
    """The text each source's offsets point into, loaded once per source."""

    def __init__(self) -> None:
        self._texts: dict[str, str | None] = {}

    def get(self, source: str) -> str | None:
        if source not in self._texts:
            try:
                self._texts[source] = load(source).text
            except (IngestError, OSError):
                self._texts[source] = None
        return self._texts[source]


def score_question(row: EvalQuestion, answer: Answer, seconds: float, texts: SourceTexts,
                   trace: Trace | None = None) -> QuestionResult:
    result = QuestionResult(
        id=row.id, question=row.question, kind=row.kind, abstain_expected=row.abstain,
        abstained=answer.abstained, answer=answer.answer, seconds=seconds, citations=len(answer.citations),
        reason=answer.reason,
        backend=answer.backend, generated_dropped=answer.dropped_sentences,
        generated_kept=answer.answer.count("[") if answer.backend != "extractive" else 0,
    )
    result.quotes_verbatim = all(texts.get(c.source) is not None and texts.get(c.source)[c.start : c.end] == c.quote
                                 for c in answer.citations)
    if result.abstain_expected:
        return result
    evidence = [normalize(e) for e in row.evidence]
    result.evidence_rank = next(
        (i for i, ctx in enumerate(answer.contexts, start=1) if any(e in normalize(ctx.text) for e in evidence)),
        None,
    )
    text = normalize(answer.answer)
    result.key_facts = not answer.abstained and all(
        any(normalize(alt) in text for alt in group) for group in row.must
    )
    if trace is not None and row.must:
        result.sentences_ranked = True
        result.key_fact_sentence_rank = next((i for i, e in enumerate(trace.evidence.ranked, start=1)
                                              if row.holds_a_key_fact(e.text)), None)
    cited = {c.chunk_id for c in answer.citations}
    cited_text = " ".join(normalize(ctx.text) for ctx in answer.contexts if ctx.chunk_id in cited)
    result.supported = bool(evidence) and any(e in cited_text for e in evidence)
    if row.page is not None:
        result.page_cited = not answer.abstained and any(c.page == row.page for c in answer.citations)
    return result


def summarize(results: Sequence[QuestionResult]) -> dict[str, float]:
    answerable = [r for r in results if not r.abstain_expected]
    unanswerable = [r for r in results if r.abstain_expected]
    abstained = [r for r in results if r.abstained]
    totals: dict[str, float] = {"questions": len(results), "answerable": len(answerable)}
    ranks = [r.evidence_rank for r in answerable]
    for k in RECALL_AT:
        totals[f"recall@{k}"] = _share([rank is not None and rank <= k for rank in ranks])
    totals["mrr"] = _mean([1.0 / rank if rank else 0.0 for rank in ranks])
    traced = [r.key_fact_sentence_rank for r in answerable if r.sentences_ranked]
    for k in EVIDENCE_AT if traced else ():
        totals[f"evidence@{k}"] = _share([rank is not None and rank <= k for rank in traced])
    totals["decision_accuracy"] = _share([r.abstained == r.abstain_expected for r in results])
    totals["key_fact_accuracy"] = _share([bool(r.key_facts) for r in answerable])
    answered = [r for r in answerable if not r.abstained]
    totals["citation_support"] = _share([bool(r.supported) for r in answered])
    totals["quotes_verbatim"] = _share([r.quotes_verbatim for r in results])
    totals["abstention_recall"] = _share([r.abstained for r in unanswerable])
    for kind in sorted({r.kind for r in unanswerable if r.kind}):  # e.g. not_covered, off_topic
        totals[f"abstention_recall_{kind}"] = _share([r.abstained for r in unanswerable if r.kind == kind])
    totals["abstention_precision"] = _share([r.abstain_expected for r in abstained]) if abstained else 1.0
    totals["false_abstentions"] = sum(r.abstained for r in answerable)
    totals["false_abstention_rate"] = _share([r.abstained for r in answerable]) if answerable else 0.0
    generated = sum(r.generated_kept + r.generated_dropped for r in results)
    if generated:
        totals["generated_sentences_kept"] = sum(r.generated_kept for r in results) / generated
        totals["answers_from_model"] = _share([r.backend != "extractive" for r in answered])
    paged = [r for r in answerable if r.page_cited is not None]
    if paged:
        totals["page_cited"] = _share([bool(r.page_cited) for r in paged])
    seconds = sorted(r.seconds for r in results)
    totals["latency_p50_ms"] = 1000 * _percentile(seconds, 50)
    totals["latency_p95_ms"] = 1000 * _percentile(seconds, 95)
    return totals


def run_eval(ask: Callable[[str, list[Message]], Answer | Trace], rows: Sequence[EvalQuestion]) -> EvalReport:
    """Ask every question through ``ask`` (``Assistant.ask``, the function the API uses, or ``Assistant.trace``,
    its extractive stages with their records) and score the answers."""
    texts = SourceTexts()
    results = []
    for row in rows:
        started = time.perf_counter()
        reply = ask(row.question, list(row.history))
        seconds = time.perf_counter() - started
        trace = reply if isinstance(reply, Trace) else None
        results.append(score_question(row, trace.answer if trace else reply, seconds, texts, trace))
    return EvalReport(results=results, totals=summarize(results))


def markdown_table(report: EvalReport, baseline: EvalReport | None = None) -> str:
    lines = ["| metric | value |" + (" before | change |" if baseline else ""),
             "|---|---|" + ("---|---|" if baseline else "")]
    for name, value in report.totals.items():
        row = f"| {name} | {_fmt(value)} |"
        if baseline and name in baseline.totals:
            before = baseline.totals[name]
            row += f" {_fmt(before)} | {value - before:+.3g} |"
        lines.append(row)
    return "\n".join(lines)


def failures(report: EvalReport) -> list[str]:
    lines = []
    for r in report.results:
        if r.abstain_expected and not r.abstained:
            lines.append(f"{r.id}: should abstain, answered: {r.answer[:120]}")
        elif not r.abstain_expected and not r.key_facts:
            lines.append(f"{r.id}: missing key facts ({'abstained' if r.abstained else r.answer[:120]})")
    return lines


def load_report(path: Path) -> EvalReport:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return EvalReport(
        results=[QuestionResult(**r) for r in raw.get("results", [])],
        totals=raw.get("totals", {}), settings=raw.get("settings", {}),
    )


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 1.0


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def _fmt(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"
