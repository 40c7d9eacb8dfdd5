"""The answer-quality benchmark's question sets hold against their documents (no model, no store)."""

from __future__ import annotations

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
