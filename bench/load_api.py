"""Load on the served API, loopback only and bounded: it starts `assistant serve`, measures, and stops it.

    .venv/bin/python bench/load_api.py                       # 40 asks per level, at most 240 s in all
    .venv/bin/python bench/load_api.py --requests 100 --max-seconds 400

Measures, on a fresh data dir under a temporary folder:

* start-up: the time from running `assistant serve` to the chat page answering (GET / and /healthz),
  once cold (empty store: the bundled article is ingested first) and once warm (store present);
* POST /api/ask latency (p50/p95/max, throughput): first each dev-set question once, as asked (the first
  sight of a question pays for cold per-chunk caches), then with 1 and with 8 concurrent clients on new
  texts of the same questions (stopword prefixes, so no answer comes from a per-text cache); every
  response must be a 200 with the answer contract;
* first-event time of POST /api/ask/stream: until the first `event: sentence` arrives, and until the
  final `event: answer`.

Every loop stops at --requests or at the --max-seconds deadline, whichever comes first. Writes
bench/results/load_api.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import ROOT, dev_questions, machine, percentile, print_table, write_json

SERVE = [str(Path(sys.executable).with_name("assistant")), "serve", "--host", "127.0.0.1", "--port", "0"]
READY = re.compile(r"Serving on (http://127\.0\.0\.1:\d+)")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


class Served:
    """`assistant serve` in a child process; ``url`` once it has printed its address."""

    def __init__(self, data_dir: Path, timeout: float) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([*SERVE, "--data-dir", str(data_dir)], cwd=ROOT, env=ENV, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_for_address(timeout)

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_for_address(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if match := READY.search(line):
                return match.group(1)
        self.stop()
        raise RuntimeError("assistant serve did not start:\n" + "".join(seen[-20:]))

    def wait_ready(self, timeout: float, page: bool = True) -> float:
        """Seconds from the command to /healthz answering 200 and, with ``page``, the chat page too."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    health = client.get("/healthz")
                    chat = client.get("/") if page else None
                    if health.status_code == 200 and (chat is None or (chat.status_code == 200
                                                                       and "gradio" in chat.text.lower())):
                        return time.perf_counter() - self.started
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError("the page did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Prefixes made of stopwords: each variant is a new text (the server caches query vectors by text, so a
# repeated text would measure that cache) that asks the same thing.
PREFIXES = ("Please tell me: ", "Tell me please, ", "Please, ", "Tell me: ", "Please tell me, ")


class Questions:
    """Questions, each text handed out once (variants by prefix) until they run out, then repeated."""

    def __init__(self, questions: list[str], prefixes: tuple[str, ...] = PREFIXES) -> None:
        self.texts = [p + q for p in prefixes for q in questions]
        self.given = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.given += 1
            return self.texts[(self.given - 1) % len(self.texts)]


def ask_load(url: str, questions: Questions, clients: int, requests: int, deadline: float) -> dict:
    """`requests` asks spread over `clients` threads (each with its own connection), until the deadline."""
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker() -> list[float]:
        latencies = []
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                started = time.perf_counter()
                response = client.post("/api/ask", json={"question": questions.next()})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or "citations" not in response.json():
                    raise RuntimeError(f"ask failed: {response.status_code} {response.text[:200]}")
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [x for part in pool.map(lambda _: worker(), range(clients)) for x in part]
    wall = time.perf_counter() - started
    return _summary(latencies, wall, clients=clients)


def stream_first_event(url: str, questions: Questions, requests: int, deadline: float) -> dict:
    firsts, totals = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(requests):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            first, final = None, False
            with client.stream("POST", "/api/ask/stream", json={"question": questions.next()}) as r:
                for line in r.iter_lines():
                    if first is None and line.startswith("event: "):
                        first = time.perf_counter() - started
                    if final and line.startswith("data: "):
                        break  # the full answer has arrived
                    final = final or line == "event: answer"
            firsts.append(first if first is not None else float("nan"))
            totals.append(time.perf_counter() - started)
    return {**_summary(firsts, sum(totals), clients=1), "total_p50_ms": round(percentile(totals, 50) * 1000, 1)}


def _summary(seconds: list[float], wall: float, clients: int) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "clients": clients, "requests": len(ms), "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1), "max_ms": round(max(ms), 1) if ms else None,
        "per_second": round(len(ms) / wall, 2) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="Asks per concurrency level (bounded).")
    parser.add_argument("--streams", type=int, default=12, help="Streamed asks for first-event time.")
    parser.add_argument("--max-seconds", type=float, default=240, help="Stop measuring after this long.")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    base = [q.question for q in dev_questions() if not q.history]
    questions = Questions(base)
    result: dict = {"machine": machine(), "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="load-api-") as tmp:
        data_dir = Path(tmp) / "data"
        cold = Served(data_dir, timeout=300)
        try:
            result["startup_cold_s"] = round(cold.wait_ready(300), 2)
        finally:
            cold.stop()
        warm = Served(data_dir, timeout=300)
        try:
            result["startup_warm_s"] = round(warm.wait_ready(300), 2)
            # Every dev question once, as asked: the first sight of each question (cold per-chunk caches).
            result["first_pass"] = ask_load(warm.url, Questions(base, ("",)), 1, len(base), deadline)
            result["ask"] = [ask_load(warm.url, questions, c, args.requests, deadline) for c in (1, 8)]
            result["stream"] = stream_first_event(warm.url, questions, args.streams, deadline)
            result["distinct_questions"] = len(questions.texts)
            result["questions_asked"] = questions.given
        finally:
            warm.stop()
    path = write_json("load_api", result)
    f = result["first_pass"]
    rows = [["/api/ask, first sight of each question", f["requests"], f["p50_ms"], f["p95_ms"], f["max_ms"],
             f["per_second"]]]
    rows += [[f"/api/ask, {r['clients']} client(s), warm", r["requests"], r["p50_ms"], r["p95_ms"], r["max_ms"],
              r["per_second"]] for r in result["ask"]]
    s = result["stream"]
    rows.append(["/api/ask/stream first event", s["requests"], s["p50_ms"], s["p95_ms"], s["max_ms"], s["per_second"]])
    print_table(["case", "requests", "p50 ms", "p95 ms", "max ms", "req/s"], rows, title="assistant serve, loopback")
    print(f"serve -> page ready: cold (ingest) {result['startup_cold_s']} s, warm {result['startup_warm_s']} s")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
