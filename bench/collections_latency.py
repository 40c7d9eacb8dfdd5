"""Ask latency with 1 collection open vs 5 collections of about 1k chunks each, in one server, in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/collections_latency.py [--questions 30] [--rounds 3]

Five named collections (c1..c5) of synthetic documents (bench/synthetic.py, a seed per collection) are
ingested once through the real pipeline and kept in bench/results/cache/collections-5x1k. Two API apps
run on loopback in this process over that data dir, sharing one embedding model: ``one`` only ever opens
c1; ``five`` has all five open and asks them in turn. Questions are the first words of sentences drawn
from each collection's chunks; each is asked once untimed first (the shared model caches query vectors),
then rounds alternate which app goes first, so drift and caches hit both alike. Reports
POST /api/ask p50/p95 for c1 on each app and for all five on ``five``, the ratio five/one, the memory
each opened collection adds (RSS), and the cross-collection leaks (answers citing a document of another
collection: must be 0). Writes bench/results/collections_latency.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import httpx
from common import CACHE, machine, percentile, print_table, serve_loopback, write_json

from assistant.interfaces.api import create_api
from assistant.interfaces.portal import Portal
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.shelf import CollectionProfile, Shelf

NAMES = ["c1", "c2", "c3", "c4", "c5"]
TARGET_CHUNKS = 1000
BUILD_VERSION = 1
DATA = CACHE / "collections-5x1k"


def build(embedder=None) -> Settings:
    """The five collections, ingested once (a marker file says the build is complete)."""
    from synthetic import write_corpus

    settings = Settings(data_dir=DATA / "data")
    marker = DATA / "built.json"
    if marker.exists() and json.loads(marker.read_text())["version"] == BUILD_VERSION:
        return settings
    shelf = Shelf(settings, embedder=embedder)
    counts = {}
    for index, name in enumerate(NAMES):
        bot = shelf.create(name, CollectionProfile(title=f"Synthetic collection {name}"))
        docs, written = DATA / "docs" / name, 0
        while bot.collection.count() < TARGET_CHUNKS:
            bot.ingest(write_corpus(docs, 40, seed=1000 + index, start=written))
            written += 40
        counts[name] = bot.collection.count()
        print(f"{name}: {counts[name]} chunks from {written} documents", flush=True)
    marker.write_text(json.dumps({"version": BUILD_VERSION, "chunks": counts}))
    return settings


def questions_of(bot: Assistant, count: int, seed: int) -> list[str]:
    """The first 10 words of ``count`` sentences drawn from the collection's chunks."""
    rng = random.Random(seed)
    ids = sorted(cid for entry in bot.collection.manifest.load().values() for cid in entry.chunk_ids)
    chunks = bot.collection.get(rng.sample(ids, count))
    return [" ".join(rng.choice(c.sentence_texts()).split()[:10]) for c in chunks]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ask(client: httpx.Client, question: str, name: str, docs: dict[str, Path], leaks: list[str]) -> float:
    started = time.perf_counter()
    reply = client.post("/api/ask", json={"question": question, "collection": name})
    seconds = time.perf_counter() - started
    assert reply.status_code == 200, reply.text
    for citation in reply.json()["citations"]:
        if not Path(citation["source"]).is_relative_to(docs[name]):
            leaks.append(f"{name}: {question!r} cited {citation['source']}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=30, help="Questions per collection.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = build()
    base_rss = rss_mb()
    one_portal = Portal(ServedAssistant(Assistant(settings)))
    embedder = one_portal.default.bot.embedder
    five_portal = Portal(ServedAssistant(Assistant(settings, embedder=embedder)))
    docs = {name: (DATA / "docs" / name).resolve() for name in NAMES}
    one_url, one_server = serve_loopback(create_api(one_portal))
    five_url, five_server = serve_loopback(create_api(five_portal))
    leaks: list[str] = []
    times = {"one c1": [], "five c1": [], "five all": []}
    memory = {"model and c1 (one)": 0.0, "five collections (five)": 0.0}
    with httpx.Client(base_url=one_url, timeout=120) as one, httpx.Client(base_url=five_url, timeout=120) as five:
        ask(one, "What is this collection about?", "c1", docs, leaks)  # warm: c1 opens in ``one``
        memory["model and c1 (one)"] = rss_mb() - base_rss
        before = rss_mb()
        for name in NAMES:  # warm: all five open in ``five`` (its c1 is a second copy: separate apps)
            ask(five, "What is this collection about?", name, docs, leaks)
        memory["five collections (five)"] = rss_mb() - before
        asked = {name: questions_of(five_portal.shelf.get(name), args.questions, seed=7 + i)
                 for i, name in enumerate(NAMES)}
        for question in asked["c1"]:  # every question once, untimed: the shared model caches query vectors
            ask(one, question, "c1", docs, leaks)
        for round_ in range(args.rounds + 1):
            for app in ("one", "five") if round_ % 2 else ("five", "one"):
                if app == "one":
                    timed = [ask(one, question, "c1", docs, leaks) for question in asked["c1"]]
                    times["one c1"] += timed if round_ else []
                    continue
                for position in range(args.questions):
                    for name in NAMES:
                        seconds = ask(five, asked[name][position], name, docs, leaks)
                        if round_:  # round 0 is the untimed first sight of every question
                            times["five all"].append(seconds)
                            times["five c1"] += [seconds] if name == "c1" else []
    one_server.should_exit = five_server.should_exit = True
    stats = {label: {"p50_ms": round(percentile(v, 50) * 1000, 2), "p95_ms": round(percentile(v, 95) * 1000, 2),
                     "n": len(v)} for label, v in times.items()}
    ratio = stats["five c1"]["p50_ms"] / stats["one c1"]["p50_ms"]
    print_table(["asks", "p50 ms", "p95 ms", "n"], [[k, v["p50_ms"], v["p95_ms"], v["n"]] for k, v in stats.items()],
                title="POST /api/ask, 1 vs 5 collections of ~1k chunks")
    print(f"p50 ratio five/one on c1: {ratio:.2f} · RSS: model + c1 {memory['model and c1 (one)']:.0f} MB, "
          f"five collections +{memory['five collections (five)']:.0f} MB · leaks: {len(leaks)}")
    for leak in leaks[:5]:
        print("LEAK", leak)
    chunks = json.loads((DATA / "built.json").read_text())["chunks"]
    write_json("collections_latency", {"machine": machine(), "chunks": chunks, "asks": stats,
                                       "p50_ratio_five_over_one": round(ratio, 3), "rss_mb": memory,
                                       "leaks": leaks, "questions_per_collection": args.questions,
                                       "rounds": args.rounds})


if __name__ == "__main__":
    main()
