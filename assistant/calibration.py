"""Sweeps behind the default settings: one setting at a time around the defaults, on a question set.

Chunking settings need their own store, so each chunking variant ingests the collection into a
temporary data dir (sharing the loaded model); retrieval and answer settings reuse one store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from assistant.evaluation import EvalQuestion, run_eval
from assistant.service import Assistant

CHUNKING = [(600, 150), (800, 200), (1000, 250), (1200, 300)]
RETRIEVAL = {
    "k": [4, 6, 8],
    "per_section": [1, 2, 3],
    "dense_weight": [0.5, 1.0, 1.5],
    "sentence_weight": [0.0, 0.5, 1.0, 1.5],
    "keyword_weight": [0.0, 0.5, 1.0, 1.5],
}
THRESHOLDS = [0.10, 0.15, 0.20, 0.22, 0.25, 0.30, 0.35, 0.40]
COLUMNS = ("key_fact_accuracy", "citation_support", "recall@5", "mrr", "abstention_recall", "false_abstentions")


def _row(label: str, totals: dict[str, float]) -> str:
    return f"| {label} | " + " | ".join(f"{totals[c]:.3g}" for c in COLUMNS) + " |"


def header() -> list[str]:
    return ["| setting | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]


def sweep(bot: Assistant, rows: Sequence[EvalQuestion], corpus: Sequence[Path]) -> str:
    """A Markdown table: the defaults, then each variant (one setting changed)."""
    lines = header()
    lines.append(_row("defaults", run_eval(bot.ask, rows).totals))
    lines += _threshold_rows(bot, rows)
    lines += _retrieval_rows(bot, rows)
    lines += _chunking_rows(bot, rows, corpus)
    return "\n".join(lines)


def _threshold_rows(bot: Assistant, rows: Sequence[EvalQuestion]) -> list[str]:
    original, lines = bot.policy, []
    try:
        for threshold in THRESHOLDS:
            bot.policy = original.model_copy(update={"min_evidence": threshold})
            lines.append(_row(f"min_evidence={threshold:.2f}", run_eval(bot.ask, rows).totals))
    finally:
        bot.policy = original
    return lines


def _retrieval_rows(bot: Assistant, rows: Sequence[EvalQuestion]) -> list[str]:
    original, lines = bot.retriever.config, []
    try:
        for name, values in RETRIEVAL.items():
            for value in values:
                if getattr(original, name) == value:
                    continue
                bot.retriever.config = original.model_copy(update={name: value})
                lines.append(_row(f"{name}={value}", run_eval(bot.ask, rows).totals))
    finally:
        bot.retriever.config = original
    return lines


def _chunking_rows(bot: Assistant, rows: Sequence[EvalQuestion], corpus: Sequence[Path]) -> list[str]:
    lines = []
    for size, overlap in CHUNKING:
        if (size, overlap) == (bot.settings.chunking.chunk_size, bot.settings.chunking.overlap):
            continue
        with tempfile.TemporaryDirectory() as folder:
            settings = bot.settings.but(data_dir=Path(folder), chunk_size=size, chunk_overlap=overlap, llm="extractive")
            variant = Assistant(settings, embedder=bot.embedder)
            variant.ingest(corpus)
            lines.append(_row(f"chunk_size={size}, overlap={overlap}", run_eval(variant.ask, rows).totals))
    return lines
