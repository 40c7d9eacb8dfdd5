"""What the request log and metrics cost per request: the same API app with and without ``RequestLog``.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/metrics_overhead.py [--requests 400] [--rounds 3]

Both apps share one assistant over the bundled article and are served by uvicorn on loopback; rounds
alternate between them (so drift hits both alike) and each round sends --requests GET /healthz and
POST /api/ask (one dev question) sequentially (the answer counters of ``ServedAssistant`` run in both).
Reports p50 per route for each app and the ratio with/without, in one run. Writes
bench/results/metrics_overhead.json.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import httpx
from common import ARTICLE, machine, percentile, print_table, serve_loopback, write_json

from assistant.interfaces.api import create_api
from assistant.interfaces.observability import RequestLog
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings

QUESTION = "When was the U.S.-Turkey Strategic Mechanism announced?"


def timed(client: httpx.Client, requests: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {"GET /healthz": [], "POST /api/ask": []}
    for _ in range(requests):
        for label, call in (("GET /healthz", lambda: client.get("/healthz")),
                            ("POST /api/ask", lambda: client.post("/api/ask", json={"question": QUESTION}))):
            started = time.perf_counter()
            assert call().status_code == 200
            seconds[label].append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("assistant.access").setLevel(logging.INFO)  # the log line is part of the cost
    logging.getLogger("assistant.access").addHandler(logging.NullHandler())
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
        bot = Assistant(Settings(data_dir=Path(folder)))
        bot.ingest([ARTICLE])
        served = ServedAssistant(bot)
        with_log = create_api(served)
        without_log = create_api(served)
        without_log.user_middleware = [m for m in without_log.user_middleware if m.cls is not RequestLog]
        apps = {"with": serve_loopback(with_log), "without": serve_loopback(without_log)}
        samples: dict[str, dict[str, list[float]]] = {name: {} for name in apps}
        for _ in range(args.rounds):
            for name, (url, _) in apps.items():
                with httpx.Client(base_url=url, timeout=60) as client:
                    timed(client, 20)  # warm the connection and caches
                    for label, values in timed(client, args.requests).items():
                        samples[name].setdefault(label, []).extend(values)
        for _, server in apps.values():
            server.should_exit = True
    rows, result = [], {"machine": machine(), "requests_per_round": args.requests, "rounds": args.rounds, "routes": {}}
    for label in samples["with"]:
        on, off = (1000 * percentile(samples[name][label], 50) for name in ("with", "without"))
        result["routes"][label] = {"p50_ms_with": on, "p50_ms_without": off, "ratio": on / off,
                                   "overhead_ms": on - off}
        rows.append([label, f"{off:.2f}", f"{on:.2f}", f"{on - off:+.2f}", f"{on / off:.3f}"])
    print_table(["route", "p50 ms without", "p50 ms with", "difference", "ratio"], rows,
                "request log + metrics per request")
    write_json("metrics_overhead", result)


if __name__ == "__main__":
    main()
