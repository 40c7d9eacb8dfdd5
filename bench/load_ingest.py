"""Load while an ingest runs: N clients on POST /api/ask for a fixed window while `assistant ingest` writes
to the same data dir from another process (bounded, loopback only; not a timed test).

    .venv/bin/python bench/load_ingest.py                          # 8 and 32 clients, 60 s each
    .venv/bin/python bench/load_ingest.py --clients 8 --seconds 20 --docs 100   # a quick run

For each client count, on one warm `assistant serve` (bundled article ingested):

1. idle: the clients ask for ``--idle-seconds`` with nothing else running (the baseline p95);
2. under ingest: `assistant ingest` of ``--docs`` new synthetic documents starts in its own process, and
   the clients ask for ``--seconds``; the ingest is then awaited.

Every request sent is counted; an error is a transport failure, a non-200 answer or a body without the
answer contract. After each ingest the server must answer from the new documents (a probe question quoting
one of them must cite it) and `assistant doctor` must find the store consistent. Targets (issue 5): zero
errors, no request lost, p95 under ingest below 10x the idle p95. Writes bench/results/load_ingest.json.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import dev_questions, machine, percentile, print_table, write_json
from load_api import ENV, Questions, Served
from synthetic import document, write_corpus

ASSISTANT = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "assistant")
# Stopword prefixes: thousands of new texts that ask the dev questions, so no phase is served from a
# per-text cache filled by an earlier one (the idle phase gets half of them, the loaded phase the other).
_FILLERS = ("please", "now", "so", "well", "then", "okay", "tell me")
PREFIXES = tuple(" ".join(p).capitalize() + ", " for n in (2, 3) for p in itertools.permutations(_FILLERS, n))


def timed_load(url: str, questions: Questions, clients: int, seconds: float) -> dict:
    """Each client asks in a loop until the window closes; every request is counted, answered or not."""
    deadline = time.monotonic() + seconds
    sent = answered = 0
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def client_loop() -> None:
        nonlocal sent, answered
        with httpx.Client(base_url=url, timeout=120) as client:
            while time.monotonic() < deadline:
                with lock:
                    sent += 1
                started = time.perf_counter()
                try:
                    response = client.post("/api/ask", json={"question": questions.next()})
                    ok = response.status_code == 200 and "citations" in response.json()
                    problem = "" if ok else f"{response.status_code} {response.text[:120]}"
                except (httpx.HTTPError, ValueError) as exc:
                    problem = repr(exc)
                elapsed = time.perf_counter() - started
                with lock:
                    answered += 1
                    latencies.append(elapsed)
                    if problem:
                        errors.append(problem)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: client_loop(), range(clients)))
    wall = time.perf_counter() - started
    ms = [s * 1000 for s in latencies]
    return {
        "clients": clients, "seconds": round(wall, 1), "sent": sent, "answered": answered,
        "lost": sent - answered, "errors": len(errors), "error_samples": errors[:5],
        "per_second": round(answered / wall, 2), "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1), "max_ms": round(max(ms), 1) if ms else None,
    }


def probe(url: str, doc_index: int, seed: int) -> bool:
    """Ask about a sentence of one new document; True if the answer cites that document."""
    name, text = document(doc_index, seed)
    body = [line for line in text.splitlines() if line and not line.startswith(("#", "---", "title:"))]
    question = " ".join(body[0].split()[:12])
    response = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=120)
    return any(Path(c["source"]).name == name for c in response.json().get("citations", []))


def run_level(served: Served, data_dir: Path, docs_dir: Path, clients: int, args, start: int) -> dict:
    base = [q.question for q in dev_questions() if not q.history]
    offset = 2 * (start // max(args.docs, 1))  # each level its own prefixes too
    idle = timed_load(served.url, Questions(base, PREFIXES[offset::4]), clients, args.idle_seconds)
    folder = docs_dir / f"batch-{start}"
    write_corpus(folder, args.docs, seed=args.seed, start=start)
    env = {**ENV, "ASSISTANT_DATA_DIR": str(data_dir)}
    began = time.perf_counter()
    ingest = subprocess.Popen([ASSISTANT, "ingest", str(folder)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    loaded = timed_load(served.url, Questions(base, PREFIXES[offset + 1 :: 4]), clients, args.seconds)
    ingest_done_during_window = ingest.poll() is not None
    output, _ = ingest.communicate(timeout=3600)
    ingest_seconds = time.perf_counter() - began
    doctor = subprocess.run([ASSISTANT, "doctor"], env=env, capture_output=True, text=True, check=False)
    return {
        "clients": clients, "idle": idle, "under_ingest": loaded,
        "ingest": {"docs": args.docs, "exit": ingest.returncode, "seconds": round(ingest_seconds, 1),
                   "finished_inside_window": ingest_done_during_window, "summary": output.strip()[-300:]},
        "p95_ratio": round(loaded["p95_ms"] / idle["p95_ms"], 2) if idle["p95_ms"] else None,
        "new_docs_answered": probe(served.url, start, args.seed),
        "doctor_consistent": doctor.returncode == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="8,32", help="Comma-separated client counts (8-32).")
    parser.add_argument("--seconds", type=float, default=60, help="Window under ingest, per client count.")
    parser.add_argument("--idle-seconds", type=float, default=20, help="Idle baseline window.")
    parser.add_argument("--docs", type=int, default=60, help="New synthetic documents per ingest.")
    parser.add_argument("--seed", type=int, default=77)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    result: dict = {"machine": machine(), "args": vars(args), "levels": []}
    with tempfile.TemporaryDirectory(prefix="load-ingest-") as tmp:
        data_dir, docs_dir = Path(tmp) / "data", Path(tmp) / "docs"
        served = Served(data_dir, timeout=300)
        try:
            served.wait_ready(300)
            for i, clients in enumerate(levels):
                result["levels"].append(run_level(served, data_dir, docs_dir, clients, args, start=i * args.docs))
        finally:
            served.stop()
    path = write_json("load_ingest", result)
    rows = []
    for level in result["levels"]:
        for case in ("idle", "under_ingest"):
            r = level[case]
            rows.append([f"{r['clients']} clients, {case.replace('_', ' ')}", r["sent"], r["lost"], r["errors"],
                         r["p50_ms"], r["p95_ms"], r["max_ms"], r["per_second"]])
    print_table(["case", "sent", "lost", "errors", "p50 ms", "p95 ms", "max ms", "req/s"], rows,
                title="/api/ask while `assistant ingest` writes to the same store (loopback)")
    for level in result["levels"]:
        ing = level["ingest"]
        print(f"{level['clients']} clients: p95 under ingest / idle = {level['p95_ratio']}x; ingest of "
              f"{ing['docs']} docs took {ing['seconds']} s (exit {ing['exit']}, finished inside the window: "
              f"{ing['finished_inside_window']}); new docs answered: {level['new_docs_answered']}; "
              f"doctor consistent: {level['doctor_consistent']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
