"""Fit the evidence-sentence weights (assistant/evidence.py) on the benchmark, leave-one-collection-out.

For every answerable question of every collection, every candidate sentence of its retrieved chunks gets
the features of ``assistant.evidence.FEATURES`` and a label: it holds one of the question's ``must``
strings. A logistic regression of the label on the features, its coefficients scaled so that the dense
cosine weighs 1, gives the weights. Reported per collection:

- sentence ranking: share of questions whose first key-fact sentence ranks first / in the top 3, with the
  hand-set weights, with weights fitted on the *other* collections (held out), and on all of them;
- the answers themselves (`assistant eval`'s key facts, citation support, false abstentions) with the
  hand-set weights and with the held-out weights (``AnswerPolicy.evidence_weights``).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fit_evidence.py --data-dir /tmp/bench-data [--write]

``--write`` stores the fit on all collections in assistant/data/evidence_fit.json. The data dir holds the
benchmark stores (as ``assistant eval benchmarks --data-dir`` makes them; missing ones are ingested).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.benchmark import benchmark_assistants, find_collections  # noqa: E402
from assistant.evaluation import load_questions, run_eval, summarize  # noqa: E402
from assistant.evidence import FEATURES, HAND_SET, EvidenceWeights, rank_evidence  # noqa: E402
from assistant.records import Message  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

FIT_FILE = ROOT / "assistant" / "data" / "evidence_fit.json"


@dataclass
class Question:
    collection: str
    id: str
    features: np.ndarray  # (candidates, features)
    labels: np.ndarray  # (candidates,) bool


def question_rows(bot: Assistant, collection: str, questions) -> list[Question]:
    """The candidates of each answerable question, as the pipeline makes them (same retrieval, same profile)."""
    rows = []
    for q in questions:
        if q.abstain or not q.must:
            continue
        turns = [m if isinstance(m, Message) else Message.model_validate(m) for m in q.history]
        asked = bot.understand(q.question, turns)
        retrieved = bot.retriever.gather(asked)
        ranked = rank_evidence(asked, retrieved.hits, bot.embedder.query_vector, retrieved.sentence_vectors,
                               HAND_SET).ranked
        if not ranked:
            continue
        labels = np.array([q.holds_a_key_fact(c.text) for c in ranked])
        rows.append(Question(collection, q.id, np.array([c.features for c in ranked]), labels))
    return rows


def fit(rows: list[Question], used: tuple[str, ...] = FEATURES, objective: str = "listwise") -> EvidenceWeights:
    """Weights of the ``used`` features (the others weigh 0), scaled so that the scores of a question's
    candidates spread as much as with the hand-set weights: ``keep_within`` (how far below the best a quoted
    sentence may score) then keeps about as many sentences as before.

    ``listwise``: the likelihood that a key-fact sentence comes first among its question's candidates
    (a softmax per question, L2-penalised), what the answer needs; ``pointwise``: a logistic regression of
    each sentence's label."""
    usable = [r for r in rows if r.labels.any()]
    mask = np.array([name in used for name in FEATURES])
    coef = np.zeros(len(FEATURES))
    coef[mask] = _listwise(usable, mask) if objective == "listwise" else _pointwise(usable, mask)
    if coef[0] <= 0:
        raise ValueError(f"the dense cosine got a weight of {coef[0]:.3f}: the fit is not usable")
    spread = np.mean([np.std(r.features @ coef) for r in usable])
    hand_spread = np.mean([np.std(r.features @ np.asarray(HAND_SET.weights)) for r in usable])
    return EvidenceWeights(tuple(float(c * hand_spread / spread) for c in coef), objective)


def _pointwise(rows: list[Question], mask: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([r.features for r in rows])[:, mask]
    y = np.concatenate([r.labels for r in rows])
    return LogisticRegression(C=1.0, max_iter=2000).fit(x, y).coef_[0]


def _listwise(rows: list[Question], mask: np.ndarray, penalty: float = 0.01) -> np.ndarray:
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    data = [(r.features[:, mask], r.labels) for r in rows]

    def loss(w: np.ndarray) -> float:
        total = 0.0
        for x, y in data:
            s = x @ w
            total += logsumexp(s) - logsumexp(s[y])
        return total / len(data) + penalty * float(w @ w)

    start = np.asarray(HAND_SET.weights)[mask] * 10
    return minimize(loss, start, method="L-BFGS-B").x


def ranking(rows: list[Question], weights: EvidenceWeights) -> tuple[float, float]:
    """(share whose first key-fact sentence ranks first, share in the top 3), over questions that have one."""
    firsts = []
    for r in rows:
        if not r.labels.any():
            continue
        scores = r.features @ np.asarray(weights.weights)
        order = np.argsort(-scores, kind="stable")
        firsts.append(int(np.argmax(r.labels[order])))
    return float(np.mean([f == 0 for f in firsts])), float(np.mean([f < 3 for f in firsts]))


def rank_counts(rows: list[Question]) -> dict[str, int]:
    counts = dict.fromkeys(("first", "2nd-3rd", "4th-8th", "lower", "none"), 0)
    for r in rows:
        scores = r.features @ np.asarray(HAND_SET.weights)
        labels = r.labels[np.argsort(-scores, kind="stable")]
        first = int(np.argmax(labels)) if labels.any() else None
        key = ("none" if first is None else "first" if first == 0 else "2nd-3rd" if first < 3
               else "4th-8th" if first < 8 else "lower")
        counts[key] += 1
    return counts


def answers(bot: Assistant, questions, weights: EvidenceWeights) -> dict:
    base = bot.policy
    bot.policy = base.model_copy(update={"evidence_weights": weights.weights})
    try:
        totals = summarize(run_eval(bot.ask, questions).results)
    finally:
        bot.policy = base
    return {k: totals[k] for k in ("key_fact_accuracy", "citation_support", "false_abstention_rate")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--benchmark", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--write", action="store_true", help="write the fit on all collections")
    parser.add_argument("--features", default=",".join(FEATURES), help="the features fitted (others weigh 0)")
    parser.add_argument("--objective", choices=("listwise", "pointwise"), default="listwise")
    args = parser.parse_args()
    bots, questions, rows = {}, {}, {}
    for collection, bot in benchmark_assistants(find_collections(args.benchmark), Settings(data_dir=args.data_dir)):
        bots[collection.name], questions[collection.name] = bot, load_questions(collection.questions)
        rows[collection.name] = question_rows(bot, collection.name, questions[collection.name])
        print(f"{collection.name}: {len(rows[collection.name])} questions with candidates", flush=True)

    print("where the first key-fact sentence ranks (hand-set weights):", rank_counts(
        [r for rs in rows.values() for r in rs]))
    used = tuple(args.features.split(","))
    everything = fit([r for rs in rows.values() for r in rs], used, args.objective)
    report = {"features": list(FEATURES), "all": everything.weights, "collections": {}}
    print("\n| collection | top-1 hand-set | top-1 held-out | top-1 all | top-3 hand-set | top-3 held-out | "
          "key facts hand-set | key facts held-out | support hand-set | support held-out | false abst. "
          "hand-set | false abst. held-out |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in rows:
        held_out = fit([r for other, rs in rows.items() if other != name for r in rs], used, args.objective)
        (h1, h3), (o1, o3), (a1, _) = (ranking(rows[name], w) for w in (HAND_SET, held_out, everything))
        before, after = answers(bots[name], questions[name], HAND_SET), answers(bots[name], questions[name], held_out)
        report["collections"][name] = {"held_out_weights": held_out.weights, "top1": [h1, o1, a1], "top3": [h3, o3],
                                       "hand_set": before, "held_out": after}
        print(f"| {name} | {h1:.2f} | {o1:.2f} | {a1:.2f} | {h3:.2f} | {o3:.2f} | "
              f"{before['key_fact_accuracy']:.2f} | {after['key_fact_accuracy']:.2f} | "
              f"{before['citation_support']:.2f} | {after['citation_support']:.2f} | "
              f"{before['false_abstention_rate']:.2f} | {after['false_abstention_rate']:.2f} |", flush=True)
    print("\nweights (all collections):", dict(zip(FEATURES, (round(w, 3) for w in everything.weights), strict=True)))
    (args.data_dir / "evidence_fit_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.write:
        FIT_FILE.write_text(json.dumps({
            "features": list(FEATURES), "weights": list(everything.weights), "fitted_on": list(rows),
            "command": "python benchmarks/fit_evidence.py --write",
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {FIT_FILE}")


if __name__ == "__main__":
    main()
