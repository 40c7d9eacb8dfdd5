"""The answer-quality benchmark's question sets hold against their documents (no model, no store)."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from assistant.evaluation import load_questions

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from check_questions import collection_paths, problems  # noqa: E402

COLLECTIONS = sorted(p.parent for p in BENCHMARKS.glob("*/collection.toml"))


def test_there_are_at_least_four_collections_of_real_documents():
    assert len(COLLECTIONS) >= 4


@pytest.mark.parametrize("folder", COLLECTIONS, ids=lambda p: p.name)
def test_every_evidence_lies_in_one_chunk_and_the_mix_has_both_kinds_of_unanswerable(folder):
    spec = tomllib.loads((folder / "collection.toml").read_text(encoding="utf-8"))
    assert spec["title"] and spec["examples"] and collection_paths(folder)
    rows = load_questions(folder / "questions.jsonl")
    kinds = [r.kind for r in rows]
    assert len(rows) >= 25 and kinds.count("not_covered") >= 3 and kinds.count("off_topic") >= 3
    assert any(r.history for r in rows) and all(r.abstain == (r.kind in ("not_covered", "off_topic")) for r in rows)
    assert problems(folder) == []


@pytest.mark.slow
def test_assistant_eval_runs_a_benchmark_folder_into_one_table(tmp_path):
    from typer.testing import CliRunner

    from assistant.interfaces.cli import app

    data = ["--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "report.json")]
    result = CliRunner().invoke(app, ["eval", str(BENCHMARKS / "article"), *data])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| collection | questions | key facts") and rows[1].startswith("| article | 51 |")
    assert rows[2].startswith("| **all** | 51 |")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    totals = report["collections"]["article"]["totals"]
    assert totals["quotes_verbatim"] == 1.0 and totals["key_fact_accuracy"] >= 0.5  # today's floor (0.56)
    assert "abstention_recall_off_topic" in totals and "abstention_recall_not_covered" in totals
    stores = [p.name for p in (tmp_path / "data" / "benchmark").iterdir()]
    assert len(stores) == 1 and stores[0].startswith("article-"), "one store per collection and chunking recipe"
