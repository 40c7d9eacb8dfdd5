"""Fit the verifier's support score leave-one-collection-out and write assistant/data/verifier_fit.json.

The score is a logistic regression over the features of ``assistant.verify.Measured`` (cosine, unmatched
words, the worst clause, ...) for sentences that pass the hard checks (values, negation). It is fitted on
the verification rows of all collections but one, its threshold chosen there (the lowest that drops at
least 95 % of the wrong rows, else the best balanced accuracy), and scored on the one left out. The table
printed is that held-out score per collection; the shipped fit uses every collection.

Usage: ``python benchmarks/fit_verifier.py [--data-dir D] [--write]`` (from the repository root).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from assistant.benchmark import find_collections
from assistant.settings import Settings
from assistant.verification_bench import CollectionClaims, fit_score, passed_share, run_direct
from assistant.verification_set import FAITHFUL_KINDS, WRONG_KINDS
from assistant.verify import FEATURES, SupportFit, split_claims

BENCHMARKS = Path(__file__).resolve().parent
FIT_FILE = BENCHMARKS.parent / "assistant" / "data" / "verifier_fit.json"
WRONG_DROPPED = 0.95


def training_rows(claims: CollectionClaims) -> list[tuple[list[float], int, str]]:
    """(features, 1 if faithful, kind) for each claim that passes the hard checks against its cited passages."""
    verifier = claims.bot.verifier
    rows = []
    for row in claims.rows:
        if row.kind == "no_citation":
            continue
        text, shown, vectors = claims.prepared(row)
        for claim, numbers in split_claims(text):
            cited = [shown[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(shown)]
            found = verifier.measure(claim, verifier.embed(claim), cited, vectors)
            if isinstance(found, tuple) and not found[1].missing and not found[1].reversal:
                rows.append((found[1].features(), int(row.faithful), row.kind))
    return rows


def fit(rows: list[tuple[list[float], int, str]], wrong_total: int, wrong_dropped: float | None) -> SupportFit:
    """The regression on ``rows`` and its threshold; ``wrong_total`` counts the wrong rows the hard checks
    already drop too, so the 95 % is of all wrong rows; ``wrong_dropped`` None: the balanced rule."""
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=0.5, class_weight="balanced").fit((x - mean) / scale, y)
    coef = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - (model.coef_[0] * mean / scale).sum())
    scores = 1 / (1 + np.exp(-(x @ coef + intercept)))
    threshold = _threshold(scores, y, wrong_total, wrong_dropped)
    return SupportFit(tuple(float(c) for c in coef), intercept, threshold)


def _threshold(scores: np.ndarray, y: np.ndarray, wrong_total: int, wrong_dropped: float | None) -> float:
    caught_by_rules = wrong_total - int((y == 0).sum())
    best, best_balanced = 0.5, -1.0
    for t in [*sorted(set(np.round(scores, 4))), 1.0]:
        kept = (scores[y == 1] >= t).mean() if (y == 1).any() else 0.0
        dropped = (caught_by_rules + (scores[y == 0] < t).sum()) / max(wrong_total, 1)
        if wrong_dropped is not None and dropped >= wrong_dropped:
            return float(t)
        if (kept + dropped) / 2 > best_balanced:
            best, best_balanced = float(t), (kept + dropped) / 2
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="write the fit on all collections to " + str(FIT_FILE))
    parser.add_argument("--balanced", action="store_true", help="choose the threshold for the best balanced "
                        "accuracy instead of the lowest that drops 95 % of the wrong rows")
    args = parser.parse_args()
    rule = None if args.balanced else WRONG_DROPPED
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    claims, embedder = [], None
    for collection in find_collections(BENCHMARKS):
        if (collection.folder / "verification.jsonl").is_file():
            claims.append(CollectionClaims(collection, settings, embedder))
            embedder = claims[-1].bot.embedder
    rows = {c.name: training_rows(c) for c in claims}
    wrong = {c.name: sum(not r.faithful for r in c.rows) for c in claims}
    print("| held out | faithful kept | wrong dropped | worst kind |\n|---|---|---|---|", flush=True)
    for held in claims:
        others = [n for n in rows if n != held.name]
        fold = fit([r for n in others for r in rows[n]], sum(wrong[n] for n in others), rule)
        outcomes = run_direct(held, fold)
        print(f"| {held.name} | {passed_share(outcomes, FAITHFUL_KINDS):.2f} | "
              f"{passed_share(outcomes, WRONG_KINDS):.2f} | {fit_score(outcomes)[0]:.2f} |", flush=True)
    final = fit([r for n in rows for r in rows[n]], sum(wrong.values()), rule)
    print("coefficients:", dict(zip(FEATURES, (round(c, 3) for c in final.coef), strict=True)), flush=True)
    everything = [o for c in claims for o in run_direct(c, final)]
    print(f"| (fitted on all) | {passed_share(everything, FAITHFUL_KINDS):.2f} | "
          f"{passed_share(everything, WRONG_KINDS):.2f} | {fit_score(everything)[0]:.2f} |")
    if args.write:
        FIT_FILE.write_text(json.dumps({
            "features": list(FEATURES), "coef": list(final.coef), "intercept": final.intercept,
            "threshold": final.threshold, "fitted_on": [c.name for c in claims],
            "command": "python benchmarks/fit_verifier.py --write",
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {FIT_FILE}")


if __name__ == "__main__":
    main()
