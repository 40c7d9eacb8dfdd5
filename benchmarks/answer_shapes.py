"""How answers and loaded pages are shaped: quote lengths and code in answers, and code fences left on one line.

``python benchmarks/answer_shapes.py REPORT.json [REPORT.json ...]`` reads reports of ``assistant eval benchmarks``
(``<data dir>/eval/benchmark-latest.json``) and prints, per collection, how many quotes the answers hold, their
median length, how many run over 400 characters and how many quote a code fence. ``--pages COLLECTION`` loads a
collection's documents with the loaders on the import path and counts code fences the loader left inside a line
(an HTML ``<pre>`` folded onto one line reads as a fence that runs on to the next one: docs/calibration.md, sixth
stop); run it with ``PYTHONPATH`` at another checkout to count what that code loaded.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
_MARKER = re.compile(r"\s*\[\d+\]\s*")
LONG = 400


def quote_shapes(report: Path) -> list[str]:
    lines = []
    for name, collection in json.loads(report.read_text(encoding="utf-8"))["collections"].items():
        answers = [r["answer"] for r in collection["results"] if not r["abstained"]]
        quotes = [q for answer in answers for q in _MARKER.split(answer) if q.strip()]
        lengths = sorted(len(q) for q in quotes)
        median = lengths[len(lengths) // 2] if lengths else 0
        lines.append(f"| {name} | {len(quotes)} | {median} | {sum(n > LONG for n in lengths)} | "
                     f"{sum('```' in q for q in quotes)} |")
    return lines


def folded_fences(collection: str) -> tuple[int, int, int]:
    """(fences inside a line, documents holding one, documents) for one benchmark collection."""
    from assistant.benchmark import find_collections
    from ingest.loaders import find_files, load

    [found] = [c for c in find_collections(BENCHMARKS) if c.name == collection]
    counts = [len(re.findall(r"^```[ \t]*\S.*```", load(p).text, re.MULTILINE)) for p in find_files(found.documents)]
    return sum(counts), sum(n > 0 for n in counts), len(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path)
    parser.add_argument("--pages", help="a benchmark collection whose loaded documents to check for folded fences")
    args = parser.parse_args()
    for report in args.reports:
        print(f"{report}\n| collection | quotes | median characters | over {LONG} | with a code fence |")
        print("|---|---|---|---|---|")
        print("\n".join(quote_shapes(report)))
    if args.pages:
        fences, documents, total = folded_fences(args.pages)
        print(f"{args.pages}: {fences} code fences folded into a line, in {documents} of {total} documents")


if __name__ == "__main__":
    main()
