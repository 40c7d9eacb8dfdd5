"""Retrieval settings chosen leave-one-collection-out on the benchmark (docs/calibration.md).

Each variant changes one retrieval setting (``RetrievalConfig``: chunks handed to the answerer, chunks per
section, candidates per index, the weights of the three rankings in the fusion) from today's defaults and runs
the whole benchmark on the stores already built. For each collection held out, the variant with the best mean
of key facts and citation support on the other collections is chosen (today's defaults win ties) and its
figures on the held-out collection are printed beside today's. A setting is worth changing only where the
choice is the same in every fold and no held-out collection goes down.

Settings that lengthen answers (``keep_within``, ``max_sentences``) are not swept: key facts rise with length
without the answers getting better (docs/calibration.md, "windows").

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/sweep_settings.py --data-dir /tmp/bench-data

About a minute per variant on two cores once the stores exist.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.benchmark import benchmark_assistants, find_collections  # noqa: E402
from assistant.evaluation import load_questions, run_eval  # noqa: E402
from assistant.settings import Settings  # noqa: E402

VARIANTS: list[tuple[str, dict]] = [
    ("today", {}),
    ("k=4", {"k": 4}), ("k=8", {"k": 8}), ("k=10", {"k": 10}),
    ("per_section=1", {"per_section": 1}), ("per_section=3", {"per_section": 3}),
    ("per_section=4", {"per_section": 4}),
    ("candidates=10", {"candidates": 10}), ("candidates=40", {"candidates": 40}),
    ("keyword_weight=0.5", {"keyword_weight": 0.5}), ("keyword_weight=1.5", {"keyword_weight": 1.5}),
    ("sentence_weight=0.5", {"sentence_weight": 0.5}), ("sentence_weight=1.5", {"sentence_weight": 1.5}),
    ("dense_weight=0.5", {"dense_weight": 0.5}), ("dense_weight=1.5", {"dense_weight": 1.5}),
]
MEASURES = ("key_fact_accuracy", "citation_support", "recall@5", "false_abstention_rate")


def measure(data_dir: Path, labels: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{variant: {collection: totals}} for the chosen variants."""
    settings = Settings(data_dir=data_dir, llm="extractive")
    results: dict[str, dict[str, dict[str, float]]] = {label: {} for label in labels}
    for collection, bot in benchmark_assistants(find_collections(ROOT / "benchmarks"), settings):
        rows = load_questions(collection.questions)
        original = bot.retriever.config
        for label, update in VARIANTS:
            if label in labels:
                bot.retriever.config = original.model_copy(update=update)
                results[label][collection.name] = run_eval(bot.for_eval, rows).totals
                logging.info("%s %s kf %.2f", collection.name, label,
                             results[label][collection.name]["key_fact_accuracy"])
        bot.retriever.config = original
    return results


def objective(totals: dict[str, float]) -> float:
    return (totals["key_fact_accuracy"] + totals["citation_support"]) / 2


def held_out(results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    names = sorted(results["today"])
    lines = ["| held out | chosen on the others | key facts today → chosen | support today → chosen |",
             "|---|---|---|---|"]
    for out in names:
        train = [n for n in names if n != out]

        def score(label: str, train: list[str] = train) -> float:
            return sum(objective(results[label][n]) for n in train) / len(train)

        best = max(results, key=lambda label: (round(score(label), 6), label == "today"))
        today, chosen = results["today"][out], results[best][out]
        lines.append(f"| {out} | {best} | {today['key_fact_accuracy']:.2f} → {chosen['key_fact_accuracy']:.2f} | "
                     f"{today['citation_support']:.2f} → {chosen['citation_support']:.2f} |")
    return lines


def table(results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    names = sorted(results["today"])
    lines = ["| variant | " + " | ".join(names) + " | mean |", "|---" * (len(names) + 2) + "|"]
    for label, per in results.items():
        cells = [f"{per[n]['key_fact_accuracy']:.2f}/{per[n]['citation_support']:.2f}" for n in names]
        mean = sum(objective(per[n]) for n in names) / len(names)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="variant labels to run (today always runs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    labels = ["today", *[label for label, _ in VARIANTS if label != "today" and (not args.only or label in args.only)]]
    results = measure(args.data_dir, labels)
    print("key facts / citation support per collection:\n")
    print("\n".join(table(results)))
    print("\nleave one collection out:\n")
    print("\n".join(held_out(results)))


if __name__ == "__main__":
    main()
