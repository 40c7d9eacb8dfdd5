"""The verification benchmark: how well citation verification judges generated sentences, per kind.

Each collection of a benchmark folder may have a ``verification.jsonl`` (assistant/verification_set.py):
sentences a model might write, faithful or wrong in a named way. Two modes:
- ``direct``: each sentence goes through the real verifier with the passages the model would have been
  shown: the question's retrieved passages, with the cited ones put in where retrieval missed them.
- ``end_to_end``: each question is asked through ``Assistant.ask`` with the ``openai`` backend against a
  loopback OpenAI-protocol server that replies with the sentence, its markers renumbered to the passages
  of the real prompt. Rows whose cited passage is not in that prompt are counted apart (not shown).
A faithful sentence passes when it is kept (or moved); a wrong one when it is dropped. A wrong citation
also passes when it is moved to its ``supported_by`` passage, whose quote then holds it verbatim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.benchmark import BenchmarkCollection, store_name
from assistant.evaluation import normalize
from assistant.records import MARKER, SentenceVerdict
from assistant.scripted_llm import ScriptedOpenAI, passages_of
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.verification_set import CLAIMS_FILE, FAITHFUL_KINDS, WRONG_KINDS, ClaimRow, load_claims
from assistant.verify import Judgement, SupportFit, Verifier
from ingest.chunking import chunk_document
from ingest.loaders import find_files, load
from ingest.records import Chunk
from store.embeddings import Embedder

KINDS = (*FAITHFUL_KINDS, *WRONG_KINDS)


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    collection: str
    id: str
    kind: str
    passed: bool
    verdict: str  # kept, moved, dropped, or not shown (end to end: the cited passage was not in the prompt)
    reason: str | None = None


@dataclass
class VerificationReport:
    direct: list[ClaimOutcome] = field(default_factory=list)
    end_to_end: list[ClaimOutcome] = field(default_factory=list)

    def table(self) -> str:
        """Markdown: per kind, the share that passed in each collection and overall (direct), and end to end."""
        names = list(dict.fromkeys(o.collection for o in self.direct))
        head = "| kind | " + " | ".join(names) + " | **all** | end to end |"
        rows = [head, "|---" * (len(names) + 3) + "|"]
        for label, kinds in [*((k, (k,)) for k in KINDS), ("**faithful kept**", FAITHFUL_KINDS),
                             ("**wrong dropped**", WRONG_KINDS)]:
            cells = [_share([o for o in self.direct if o.collection == n and o.kind in kinds]) for n in names]
            cells += [_share([o for o in self.direct if o.kind in kinds]),
                      _share([o for o in self.end_to_end if o.kind in kinds and o.verdict != "not shown"])]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
        shown = [o for o in self.end_to_end if o.verdict != "not shown"]
        if self.end_to_end:
            rows.append(f"\nend to end: {len(shown)} of {len(self.end_to_end)} rows had their cited passage in the "
                        "prompt (the others are left out of that column)")
        return "\n".join(rows)


def passed_share(outcomes: Sequence[ClaimOutcome], kinds: Sequence[str]) -> float | None:
    chosen = [o.passed for o in outcomes if o.kind in kinds and o.verdict != "not shown"]
    return sum(chosen) / len(chosen) if chosen else None


def _share(outcomes: Sequence[ClaimOutcome]) -> str:
    if not outcomes:
        return "–"
    return f"{sum(o.passed for o in outcomes) / len(outcomes):.2f} ({len(outcomes)})"


class CollectionClaims:
    """One collection's verification rows with its benchmark store and the chunks each row cites."""

    def __init__(self, collection: BenchmarkCollection, settings: Settings, embedder: Embedder | None,
                 claims_file: str = CLAIMS_FILE) -> None:
        self.name = collection.name
        self.rows = load_claims(collection.folder / claims_file)
        self.bot = Assistant(settings.model_copy(update={"data_dir": settings.data_dir / "benchmark" /
                                                         store_name(collection, settings)}), embedder=embedder)
        report = self.bot.ingest(collection.documents)  # unchanged documents are not ingested again
        if report.failed:
            raise ValueError(f"{collection.name}: {report.failed[0][0]} failed to load: {report.failed[0][1]}")
        self.chunks = [c for path in find_files(collection.documents)
                       for c in chunk_document(load(path), settings.chunking)]
        self.normalized = [normalize(c.text) for c in self.chunks]
        self.passages: dict[str, list[Chunk]] = {}

    def holders(self, needle: str) -> list[Chunk]:
        """Every chunk holding ``needle`` (overlapping chunks repeat text), in document order."""
        wanted = normalize(needle)
        return [c for c, text in zip(self.chunks, self.normalized, strict=True) if wanted in text]

    def holder(self, needle: str) -> Chunk:
        found = self.holders(needle)
        if not found:
            raise ValueError(f"{self.name}: cited text is in no chunk: {needle!r}")
        return found[0]

    def supporting(self, row: ClaimRow) -> set[str]:
        """The ids of the chunks that hold a wrong-citation row's fact (its ``supported_by``)."""
        return {c.id for needle in row.supported_by for c in self.holders(needle)}

    def prepared(self, row: ClaimRow) -> tuple[str, list[Chunk], dict]:
        """The row's sentence renumbered to the passages the model would see, those passages, and their
        sentence vectors: what the verifier is given."""
        shown = self.shown(row)
        text = renumbered(row.answer, row.cites, [c.text for c in shown]) or row.answer
        return text, shown, self.bot.collection.sentence_vectors(shown)

    def shown(self, row: ClaimRow) -> list[Chunk]:
        """The passages the model would see: the retrieved ones, with every cited one put in if missing."""
        if row.id not in self.passages:
            size = self.bot.settings.llm.passages
            retrieved = [h.chunk for h in self.bot.retriever.retrieve(row.question)][:size]
            needed = {c.id: c for c in (self.holder(n) for n in [*row.cites, *row.supported_by])}
            order = [c.id for c in retrieved]
            missing = [c for i, c in needed.items() if i not in order]
            kept = [c for c in retrieved if c.id in needed] + [c for c in retrieved if c.id not in needed]
            kept = kept[: max(size - len(missing), 0)]
            self.passages[row.id] = sorted([*kept, *missing],
                                           key=lambda c: order.index(c.id) if c.id in order else len(order))
        return self.passages[row.id]


def renumbered(answer: str, cites: Sequence[str], shown_texts: Sequence[str]) -> str | None:
    """The row's sentence with ``[k]`` pointing at the shown passage holding ``cites[k-1]`` (None if not shown)."""
    numbers = []
    for needle in cites:
        wanted = normalize(needle)
        found = [n for n, text in enumerate(shown_texts, start=1) if wanted in normalize(text)]
        numbers.append(found[0] if found else None)
    if any(numbers[int(k) - 1] is None for k in MARKER.findall(answer)):
        return None
    return MARKER.sub(lambda m: f"[{numbers[int(m.group(1)) - 1]}]", answer)


def outcome_of(name: str, row: ClaimRow, verdicts: Sequence[Judgement | SentenceVerdict],
               support_chunks: Callable[[Judgement | SentenceVerdict], set[str]], right: set[str]) -> ClaimOutcome:
    """Whether the verifier judged the row right; ``right`` are the chunk ids of its supported_by passages."""
    verdicts = list(verdicts)
    names = [v.verdict for v in verdicts]
    if row.faithful:
        passed = bool(verdicts) and all(v != "dropped" for v in names)
    elif row.kind == "wrong_citation":
        passed = all(v == "dropped" or (v == "moved" and support_chunks(j) <= right and support_chunks(j))
                     for v, j in zip(names, verdicts, strict=True))
    else:
        passed = bool(verdicts) and any(v == "dropped" for v in names)
    reasons = "; ".join(v.reason for v in verdicts if v.reason)
    return ClaimOutcome(name, row.id, row.kind, passed, ",".join(names) or "nothing", reasons or None)


def run_direct(claims: CollectionClaims, fit: SupportFit | None = None) -> list[ClaimOutcome]:
    """Every row through the real verifier (with ``fit``, default the shipped one)."""
    verifier = claims.bot.verifier
    if fit is not None:
        verifier = Verifier(verifier.embed, verifier.word_vectors.encode, verifier.config, fit, verifier.known_words)
        verifier.word_vectors = claims.bot.verifier.word_vectors  # the same words: encode them once
    outcomes = []
    for row in claims.rows:
        judgements = verifier.verify(*claims.prepared(row)).judgements
        outcomes.append(outcome_of(claims.name, row, judgements, lambda j: {q.chunk.id for q in j.quotes},
                                   claims.supporting(row)))
    return outcomes


def run_end_to_end(claims: CollectionClaims) -> list[ClaimOutcome]:
    """Every row asked through the ``openai`` backend against a loopback server that replies with it."""
    outcomes = []
    with ScriptedOpenAI() as server:
        settings = claims.bot.settings.but(llm="openai", llm_base_url=server.url, llm_model="scripted")
        bot = Assistant(settings, embedder=claims.bot.embedder)
        for row in claims.rows:
            shown: list[bool] = []

            def script(messages, row=row, shown=shown):
                text = renumbered(row.answer, row.cites, passages_of(messages))
                shown.append(text is not None)
                return text or "NOT IN DOCUMENTS"

            server.script = script
            answer = bot.ask(row.question)
            if not shown or not shown[0]:
                outcomes.append(ClaimOutcome(claims.name, row.id, row.kind, False, "not shown"))
                continue
            by_n = {c.n: c.chunk_id for c in answer.citations}
            outcomes.append(outcome_of(claims.name, row, answer.verdicts,
                                       lambda v, by_n=by_n: {by_n[n] for n in v.citations}, claims.supporting(row)))
    return outcomes


def run_verification(collections: Sequence[BenchmarkCollection], settings: Settings, end_to_end: bool = True,
                     progress: Callable[[str], None] | None = None,
                     claims_file: str = CLAIMS_FILE) -> VerificationReport:
    report = VerificationReport()
    embedder = None
    for collection in collections:
        if not (collection.folder / claims_file).is_file():
            continue
        if progress:
            progress(f"verifying {collection.name}")
        claims = CollectionClaims(collection, settings, embedder, claims_file)
        embedder = claims.bot.embedder
        report.direct += run_direct(claims)
        if end_to_end:
            report.end_to_end += run_end_to_end(claims)
    return report


def failures(outcomes: Sequence[ClaimOutcome]) -> list[str]:
    return [f"{o.collection} {o.id} ({o.kind}): {o.verdict}" + (f" — {o.reason}" if o.reason else "")
            for o in outcomes if not o.passed and o.verdict != "not shown"]



def fit_score(outcomes: Sequence[ClaimOutcome]) -> tuple[float, float]:
    """The worst kind's pass rate, then the mean over kinds."""
    shares = [s for s in (passed_share(outcomes, (k,)) for k in KINDS) if s is not None]
    return (min(shares), sum(shares) / len(shares)) if shares else (0.0, 0.0)
