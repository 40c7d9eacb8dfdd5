"""How many of the true nearest sentences Chroma's HNSW search finds, per search breadth (``ef_search``).

For each benchmark collection's store (built by ``assistant eval benchmarks --data-dir D``) and each breadth, a
copy of the store gets that ``ef_search`` and every benchmark question's 60 nearest sentences are searched
as retrieval does (``store/chroma_index.py`` ``best_sentence_chunks``: 3 x 20 candidates) and compared with an
exact search over all stored sentence vectors. Prints the share missed and the mean query time.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/search_recall.py --data-dir D --ef 100,200,400,800

Why it matters: the part of the graph Chroma wrote since its last save is rebuilt in parallel each time a
process opens the store, so which neighbours a narrow search misses changes from one process to the next.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.benchmark import find_collections, store_name  # noqa: E402
from assistant.evaluation import load_questions  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

NEAREST = 60


def missed(store: Path, questions: list[str], ef: int) -> tuple[int, int, float]:
    """(missed, wanted, mean query ms) of the sentence search on a copy of ``store`` searched with ``ef``."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / store.name
        shutil.copytree(store, copy)
        bot = Assistant(Settings(data_dir=copy))
        sentences = bot.collection.dense.sentences
        sentences.modify(configuration={"hnsw": {"ef_search": ef}})  # after opening: opening sets SEARCH_EF
        stored = sentences.get(include=["embeddings"])
        vectors = np.asarray(stored["embeddings"])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        lost = wanted = 0
        spent = 0.0
        for question in questions:
            query = bot.embedder.query_vector(question)
            exact = {stored["ids"][i] for i in np.argsort(-(vectors @ query))[:NEAREST]}
            start = time.perf_counter()
            found = sentences.query(query_embeddings=[query], n_results=NEAREST, include=["distances"])["ids"][0]
            spent += time.perf_counter() - start
            lost += len(exact - set(found))
            wanted += len(exact)
        return lost, wanted, 1000 * spent / max(len(questions), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="What `assistant eval benchmarks` built.")
    parser.add_argument("--ef", default="100,200,400,800", help="Search breadths to measure, comma-separated.")
    parser.add_argument("--benchmark", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    data_dir, ef, benchmark = args.data_dir, args.ef, args.benchmark
    settings = Settings(data_dir=data_dir)
    print("| collection | questions | ef_search | missed of the 60 nearest | query ms |")
    print("|---|---|---|---|---|")
    for collection in find_collections(benchmark):
        store = data_dir / "benchmark" / store_name(collection, settings)
        if not store.is_dir():
            print(f"| {collection.name} | no store at {store} | | | |")
            continue
        questions = [row.question for row in load_questions(collection.questions)]
        for breadth in (int(part) for part in ef.split(",")):
            lost, wanted, ms = missed(store, questions, breadth)
            print(f"| {collection.name} | {len(questions)} | {breadth} | {lost} of {wanted} "
                  f"({lost / wanted:.2%}) | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
