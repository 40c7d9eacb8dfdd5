"""Two ingest processes against one `chroma run` server: throughput and correctness (loopback only).

    .venv/bin/python bench/parallel_ingest.py                 # 2 x 60 synthetic documents
    .venv/bin/python bench/parallel_ingest.py --docs 150      # 2 x 150

One `chroma run` server on 127.0.0.1 (started here, its data in a temp folder), a synthetic corpus cut into two
halves, and three cases, each in collections of its own on that server (``ASSISTANT_CHROMA_PREFIX``):

1. ``one process``: one `assistant ingest` of both halves (the baseline).
2. ``two processes, one data dir``: two `assistant ingest` processes at once, one half each, sharing a data dir,
   as two ingest workers on one machine do: the write lock (a file in the data dir) serialises their writes,
   their encoding overlaps.
3. ``two processes, two data dirs``: the same, each with a data dir of its own, as two machines would run
   them against one server today: nothing serialises their manifest saves.

Correctness, per case, read back from the server after the processes end: every document in the manifest,
the manifest's chunk ids exactly the chunks the corpus cuts into, Chroma's chunk count equal to them, and
`assistant doctor` (Chroma, the keyword index and the manifest agree). Throughput: chunks per second of wall
time, from the first process start to the last exit. Writes bench/results/parallel_ingest.json and .png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, machine, new_figure, print_table, save_figure, write_json
from load_api import ENV
from load_ingest import ASSISTANT
from synthetic import write_corpus


def server_env(url: str, prefix: str) -> dict[str, str]:
    """The environment of a CLI process on the server's collections named by ``prefix``."""
    return {**ENV, "ASSISTANT_CHROMA_URL": url, "ASSISTANT_CHROMA_PREFIX": prefix}


def expected_chunk_ids(folders: list[Path]) -> set[str]:
    """The chunk ids an ingest of these folders must store (the product's loader and chunker)."""
    from assistant.settings import Settings
    from ingest.chunking import chunk_document
    from ingest.loaders import find_files, load

    config = Settings().chunking
    return {c.id for f in find_files(folders) for c in chunk_document(load(f), config)}


def run_ingests(url: str, prefix: str, jobs: list[tuple[Path, list[Path]]]) -> tuple[float, list[dict]]:
    """Start one `assistant ingest` per (data dir, folders) at once; (wall seconds, each process's outcome)."""
    env = server_env(url, prefix)
    started = time.perf_counter()
    procs = [
        subprocess.Popen([ASSISTANT, "ingest", *map(str, folders), "--data-dir", str(data_dir)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for data_dir, folders in jobs
    ]
    outcomes = []
    for proc in procs:
        output, _ = proc.communicate(timeout=7200)
        outcomes.append({"exit": proc.returncode, "output": output.strip()[-400:]})
    return time.perf_counter() - started, outcomes


def read_back(url: str, prefix: str, data_dir: Path, files: int, expected: set[str]) -> dict:
    """What the server holds for ``prefix`` against what the corpus must give."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    bot = Assistant(Settings(data_dir=data_dir, chroma_url=url, chroma_prefix=prefix))
    sources = bot.collection.sources()
    manifest_ids = {cid for entry in sources for cid in entry.chunk_ids}
    doctor = subprocess.run([ASSISTANT, "doctor", "--data-dir", str(data_dir)],
                            env=server_env(url, prefix),
                            capture_output=True, text=True, check=False)
    checks = {
        "sources_in_manifest": len(sources),
        "sources_expected": files,
        "manifest_chunks": len(manifest_ids),
        "chroma_chunks": bot.collection.count(),
        "chunks_expected": len(expected),
        "manifest_ids_exact": manifest_ids == expected,
        "doctor_consistent": doctor.returncode == 0,
        "doctor": doctor.stdout.strip()[-400:],
    }
    checks["correct"] = (checks["sources_in_manifest"] == files and checks["manifest_ids_exact"]
                         and checks["chroma_chunks"] == len(expected) and checks["doctor_consistent"])
    return checks


def plot(cases: list[dict], out: Path) -> None:
    """Chunks/s per case, and the share of the corpus's sources the manifest kept (red where it is wrong)."""
    fig, (speed, kept) = new_figure(2, 4)
    labels = [c["case"].replace(", ", ",\n") for c in cases]
    colors = ["tab:blue" if c["correct"] else "tab:red" for c in cases]
    speed.bar(labels, [c["chunks_per_s"] for c in cases], color=colors)
    speed.set_ylabel("chunks / s (first start to last exit)")
    speed.set_title("Ingest throughput against one chroma run server")
    kept.bar(labels, [c["sources_in_manifest"] / c["sources_expected"] for c in cases], color=colors)
    kept.set_ylim(0, 1.05)
    kept.set_ylabel("sources in the manifest / sources ingested")
    kept.set_title("Correctness (red: not all sources kept, or doctor found a mismatch)")
    save_figure(fig, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=60, help="Synthetic documents per half.")
    parser.add_argument("--seed", type=int, default=91)
    args = parser.parse_args()
    from store.chroma_server import chroma_server

    result: dict = {"machine": machine(), "args": vars(args), "cases": []}
    with tempfile.TemporaryDirectory(prefix="parallel-ingest-") as tmp:
        root = Path(tmp)
        halves = [root / "docs" / "a", root / "docs" / "b"]
        write_corpus(halves[0], args.docs, seed=args.seed)
        write_corpus(halves[1], args.docs, seed=args.seed, start=args.docs)
        expected = expected_chunk_ids(halves)
        a, b = [halves[0]], [halves[1]]
        cases = [
            ("one process", "one-", [(root / "one", halves)]),
            ("two processes, one data dir", "shared-", [(root / "shared", a), (root / "shared", b)]),
            ("two processes, two data dirs", "split-", [(root / "split-a", a), (root / "split-b", b)]),
        ]
        with chroma_server(root / "chroma") as url:
            for label, prefix, jobs in cases:
                seconds, outcomes = run_ingests(url, prefix, jobs)
                checks = read_back(url, prefix, jobs[0][0], 2 * args.docs, expected)
                result["cases"].append({"case": label, "processes": len(jobs), "seconds": round(seconds, 1),
                                        "chunks_per_s": round(len(expected) / seconds, 2),
                                        "outcomes": outcomes, **checks})
                print(f"{label}: {seconds:.1f} s, correct: {checks['correct']}", file=sys.stderr, flush=True)
    base = result["cases"][0]["chunks_per_s"]
    for case in result["cases"]:
        case["throughput_vs_one_process"] = round(case["chunks_per_s"] / base, 3)
    path = write_json("parallel_ingest", result)
    print_table(
        ["case", "processes", "s", "chunks/s", "x one process", "sources", "manifest chunks", "chroma chunks",
         "expected chunks", "doctor ok", "correct"],
        [[c["case"], c["processes"], c["seconds"], c["chunks_per_s"], c["throughput_vs_one_process"],
          f"{c['sources_in_manifest']}/{c['sources_expected']}", c["manifest_chunks"], c["chroma_chunks"],
          c["chunks_expected"], c["doctor_consistent"], c["correct"]] for c in result["cases"]],
        title="Ingest processes against one chroma run server (loopback)",
    )
    print(f"wrote {path}")
    plot(result["cases"], RESULTS / "parallel_ingest.png")
    print(f"wrote {RESULTS / 'parallel_ingest.png'}")


if __name__ == "__main__":
    main()
