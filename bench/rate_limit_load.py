"""Per-key limits under a bounded loopback load: how many asks pass, how many get 429, and that none gets a 5xx.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rate_limit_load.py [--seconds 20] [--threads 8] [--rate 30/minute]

One API app over the bundled article, with two keys, ``ASSISTANT_RATE_LIMIT`` (--rate) and
``ASSISTANT_MAX_CONCURRENT_ASKS`` 2, served by uvicorn on loopback. --threads clients (half on each key)
send POST /api/ask back to back for --seconds. Counts statuses per key, checks every 429 carries
Retry-After, and compares the 200s per key with what the rate allows in that time. Writes
bench/results/rate_limit_load.json.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import ARTICLE, machine, print_table, serve_loopback, write_json
from limits import parse as parse_rate

from assistant.interfaces.api import create_api
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings

QUESTION = "When was the U.S.-Turkey Strategic Mechanism announced?"
KEYS = {"key-a": "bench-key-a-0123456789", "key-b": "bench-key-b-0123456789"}


def client_loop(url: str, key: str, deadline: float) -> list[tuple[int, bool]]:
    """(status, has Retry-After) of every ask until the deadline."""
    seen = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        while time.monotonic() < deadline:
            reply = client.post("/api/ask", json={"question": QUESTION})
            seen.append((reply.status_code, "retry-after" in reply.headers))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", default="30/minute")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as folder:
        settings = Settings(data_dir=Path(folder) / "data", api_keys=list(KEYS.values()), rate_limit=args.rate,
                            max_concurrent_asks=2)
        bot = Assistant(settings)
        bot.ingest([ARTICLE])
        url, server = serve_loopback(create_api(ServedAssistant(bot)))
        deadline = time.monotonic() + args.seconds
        names = [list(KEYS)[i % 2] for i in range(args.threads)]
        with ThreadPoolExecutor(args.threads) as pool:
            results = list(pool.map(lambda name: (name, client_loop(url, KEYS[name], deadline)), names))
        server.should_exit = True
    by_key: dict[str, collections.Counter] = {name: collections.Counter() for name in KEYS}
    retry_missing = 0
    for name, seen in results:
        for status, has_retry in seen:
            by_key[name][status] += 1
            retry_missing += status == 429 and not has_retry
    rate = parse_rate(args.rate)
    allowed = rate.amount * max(1.0, args.seconds / rate.get_expiry())  # a fixed window: the first one's amount
    rows = [[name, counts[200], counts[429], sum(n for s, n in counts.items() if s >= 500), f"{allowed:.0f}"]
            for name, counts in by_key.items()]
    print_table(["key", "200", "429", "5xx", "allowed by the rate"], rows,
                title=f"{args.threads} clients for {args.seconds:.0f} s at {args.rate}, 2 concurrent asks per key")
    print(f"429 without Retry-After: {retry_missing}")
    write_json("rate_limit_load", {"machine": machine(), "rate": args.rate, "seconds": args.seconds,
                                   "threads": args.threads, "allowed_per_key": allowed,
                                   "statuses": {k: dict(v) for k, v in by_key.items()},
                                   "429_without_retry_after": retry_missing})


if __name__ == "__main__":
    main()
