"""The verification benchmark: its rows hold against their documents, and the real verifier keeps its floors.

The floors are the figures measured when the verifier was last fitted (docs/calibration.md), less a row
or two of slack: a change that makes verification judge worse fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from assistant.verification_set import (
    CLAIMS_FILE,
    FAITHFUL_KINDS,
    HOLDOUT2_FILE,
    HOLDOUT_FILE,
    WRONG_KINDS,
    ClaimRow,
    load_claims,
)

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from check_verification import problems  # noqa: E402

SETS = sorted(p.parent for p in BENCHMARKS.glob("*/verification.jsonl"))


def test_every_answer_benchmark_collection_has_a_verification_set():
    assert [p.name for p in SETS] == sorted(p.parent.name for p in BENCHMARKS.glob("*/collection.toml"))


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_every_cited_text_lies_in_one_chunk_and_every_kind_is_there(folder):
    rows = load_claims(folder / "verification.jsonl")
    assert {r.kind for r in rows} == {*FAITHFUL_KINDS, *WRONG_KINDS}
    assert problems(folder) == []


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_the_held_out_set_has_one_row_of_each_kind_citing_text_of_one_chunk(folder):
    rows = load_claims(folder / HOLDOUT_FILE)
    assert sorted(r.kind for r in rows) == sorted({*FAITHFUL_KINDS, *WRONG_KINDS})
    assert not {r.id for r in rows} & {r.id for r in load_claims(folder / CLAIMS_FILE)}
    assert problems(folder, HOLDOUT_FILE, min_per_kind=1) == []


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_the_second_held_out_set_has_two_rows_of_each_kind_and_no_row_of_the_others(folder):
    rows = load_claims(folder / HOLDOUT2_FILE)
    assert sorted(r.kind for r in rows) == sorted([*FAITHFUL_KINDS, *WRONG_KINDS] * 2)
    earlier = [*load_claims(folder / CLAIMS_FILE), *load_claims(folder / HOLDOUT_FILE)]
    assert not {r.id for r in rows} & {r.id for r in earlier}
    assert problems(folder, HOLDOUT2_FILE, min_per_kind=2) == []


def test_a_wrong_citation_row_must_cite_a_passage_without_its_fact(tmp_path):
    """[k] names a passage (a chunk), not a sentence: a wrong citation of a sentence next to the fact is none."""
    folder = tmp_path / "c"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "a.md").write_text("# A\n\nThe sky is blue. Grass is green.\n", encoding="utf-8")
    (folder / "collection.toml").write_text('title = "c"\npaths = ["docs"]\n', encoding="utf-8")
    row = {"id": "x-1", "kind": "wrong_citation", "question": "What colour is grass?", "answer": "Grass is green [1].",
           "cites": ["The sky is blue."], "supported_by": ["Grass is green."]}
    (folder / "v.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert problems(folder, "v.jsonl", min_per_kind=0) == ["x-1: the cited passage holds the fact too (cite a "
                                                          "passage of another chunk)"]


def test_a_row_whose_markers_do_not_match_its_cites_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        ClaimRow(id="x", kind="synonym", question="q?", answer="A fact [2].", cites=["one passage"])
    with pytest.raises(ValueError, match="supported_by"):
        ClaimRow(id="x", kind="wrong_citation", question="q?", answer="A fact [1].", cites=["one passage"])


# measured with the shipped fit (docs/calibration.md, "Verification"), less slack
FLOORS = {"faithful_kept": 0.91, "wrong_dropped": 0.91, "end_to_end_agrees": 0.95}  # measured 0.94, 0.94, 1.00


@pytest.mark.slow
def test_the_verification_benchmark_runs_direct_and_end_to_end_and_keeps_its_floors(tmp_path, benchmark_data):
    from typer.testing import CliRunner

    from assistant.interfaces.cli import app

    report_file = tmp_path / "verification.json"
    result = CliRunner().invoke(app, ["eval", str(BENCHMARKS), "--verification", "--data-dir", str(benchmark_data),
                                      "--out", str(report_file)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| kind | " + " | ".join(p.name for p in SETS) + " | **all** | end to end |"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    direct, end_to_end = report["direct"], report["end_to_end"]
    assert len(direct) == len(end_to_end) == sum(len(load_claims(p / "verification.jsonl")) for p in SETS)

    def share(outcomes, kinds):
        chosen = [o["passed"] for o in outcomes if o["kind"] in kinds and o["verdict"] != "not shown"]
        return sum(chosen) / len(chosen)

    assert share(direct, FAITHFUL_KINDS) >= FLOORS["faithful_kept"]
    assert share(direct, WRONG_KINDS) >= FLOORS["wrong_dropped"]
    assert share(direct, ["no_citation"]) == 1.0
    shown = {o["id"]: o for o in end_to_end if o["verdict"] != "not shown"}
    assert len(shown) >= 0.5 * len(end_to_end), "most cited passages are in the real prompt"
    same = [shown[o["id"]]["passed"] == o["passed"] for o in direct if o["id"] in shown]
    assert sum(same) / len(same) >= FLOORS["end_to_end_agrees"], "the real pipeline judges as the verifier does"
