"""The answer-quality benchmark: every collection of a benchmark folder, ingested and evaluated, in one table.

A benchmark folder (``benchmarks/`` of the checkout) holds one folder per collection, each with a
``collection.toml`` (title, description, ``paths`` of its documents relative to the folder) and a
``questions.jsonl``. Each collection is ingested into a store of its own under the data dir
(``benchmark/<name>-<chunking and backend>``: an unchanged collection is not ingested again) and its
questions are asked through ``Assistant.ask``, as the API asks them. ``BenchmarkReport.table`` is the
table `assistant eval BENCHMARK_FOLDER` prints: per collection and over all questions pooled.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assistant.evaluation import EvalReport, load_questions, run_eval, summarize
from assistant.service import Assistant
from assistant.settings import Settings
from store.embeddings import Embedder

COLUMNS = [("key facts", "key_fact_accuracy"), ("cit. support", "citation_support"),
           ("verbatim", "quotes_verbatim"), ("recall@5", "recall@5"), ("evidence@3", "evidence@3"),
           ("decision", "decision_accuracy"),
           ("abst. not covered", "abstention_recall_not_covered"), ("abst. off-topic", "abstention_recall_off_topic"),
           ("false abst.", "false_abstention_rate"), ("p50 ms", "latency_p50_ms")]


class BenchmarkCollection(BaseModel):
    """One collection of a benchmark folder (its ``collection.toml``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    folder: Path
    title: str
    description: str = ""
    paths: list[str] = Field(default_factory=lambda: ["docs"])
    examples: list[str] = Field(default_factory=list)

    @property
    def documents(self) -> list[Path]:
        return [(self.folder / p).resolve() for p in self.paths]

    @property
    def questions(self) -> Path:
        return self.folder / "questions.jsonl"


def is_benchmark(path: Path) -> bool:
    """A benchmark folder, or one collection's folder (rather than a JSONL question set)."""
    return path.is_dir() and ((path / "collection.toml").is_file() or any(path.glob("*/collection.toml")))


def find_collections(path: Path) -> list[BenchmarkCollection]:
    """The collections of a benchmark folder in name order (or the one collection ``path`` is)."""
    single = (path / "collection.toml").is_file()
    folders = [path] if single else sorted(p.parent for p in path.glob("*/collection.toml"))
    found = []
    for folder in folders:
        spec = tomllib.loads((folder / "collection.toml").read_text(encoding="utf-8"))
        found.append(BenchmarkCollection(name=folder.name, folder=folder.resolve(), **spec))
    return found


@dataclass
class BenchmarkReport:
    collections: dict[str, EvalReport] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown: one row per collection, then the pooled row."""
        head = "| collection | questions | " + " | ".join(label for label, _ in COLUMNS) + " |"
        rows = [head, "|---" * (len(COLUMNS) + 2) + "|"]
        for name, totals in [*((n, r.totals) for n, r in self.collections.items()), ("**all**", self.overall)]:
            cells = [_cell(totals.get(key), key) for _, key in COLUMNS]
            rows.append(f"| {name} | {totals.get('questions', 0):g} | " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False, default=str)


def store_name(collection: BenchmarkCollection, settings: Settings) -> str:
    """Where a collection's benchmark store lives: its name and what its chunks depend on."""
    recipe = json.dumps([settings.chunking.model_dump(), settings.embedding_backend], sort_keys=True)
    return f"{collection.name}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"


def benchmark_assistants(collections: Sequence[BenchmarkCollection], settings: Settings,
                         embedder: Embedder | None = None, progress: Callable[[str], None] | None = None,
                         ) -> Iterator[tuple[BenchmarkCollection, Assistant]]:
    """Each collection's assistant on its own store under the data dir, ingested (when changed); one model."""
    for collection in collections:
        bot = Assistant(settings.model_copy(update={"data_dir": settings.data_dir / "benchmark" /
                                                    store_name(collection, settings)}), embedder=embedder)
        embedder = bot.embedder
        if progress:
            progress(f"ingesting {collection.name}")
        ingested = bot.ingest(collection.documents)
        if ingested.failed:
            raise ValueError(f"{collection.name}: {len(ingested.failed)} documents failed to load: "
                             f"{ingested.failed[0][1]}")
        yield collection, bot


def run_benchmark(collections: Sequence[BenchmarkCollection], settings: Settings, embedder: Embedder | None = None,
                  progress: Callable[[str], None] | None = None) -> BenchmarkReport:
    """Ingest (when changed) and evaluate every collection with the same settings; one model for all."""
    report = BenchmarkReport(settings=settings.model_dump(mode="json"))
    for collection, bot in benchmark_assistants(collections, settings, embedder, progress):
        if progress:
            progress(f"asking {collection.name}")
        report.collections[collection.name] = run_eval(bot.for_eval, load_questions(collection.questions))
    report.overall = summarize([r for e in report.collections.values() for r in e.results])
    return report


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if key.endswith("_ms") else f"{value:.2f}"
