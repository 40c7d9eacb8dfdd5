"""The langchain tutorial pipeline a user would build instead, against our retriever, same docs and questions.

    .venv/bin/python bench/baseline_langchain.py                    # article alone, article + 50 synthetic docs
    .venv/bin/python bench/baseline_langchain.py --synthetic 0,1000

Baseline ("RAG tutorial"): RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over the
raw file text, HuggingFaceEmbeddings on the same bundled all-MiniLM-L6-v2 folder, a langchain-chroma
``Chroma`` vector store, ``similarity_search(q, k=5)``.

``langchain-huggingface`` is NOT installed: every release (1.2.3 at the time of writing) requires
huggingface-hub<2, and this project pins huggingface-hub 2.x (gradio 6). ``TutorialHFEmbeddings``
below reproduces what ``langchain_huggingface.HuggingFaceEmbeddings`` does with its defaults
(``SentenceTransformer(model_name)``, newlines replaced by spaces, ``encode(texts,
show_progress_bar=False)``, no extra normalization), built from ``langchain_core.embeddings.Embeddings``.
The vector store is the real ``langchain_chroma.Chroma`` (langchain-chroma 1.1.0).

Ours: ``Assistant.ingest`` of the same files, ``bot.retriever.retrieve(q)[:5]`` (it hands 6 to the
answerer; recall is scored on the first 5 for a like-for-like @5).

recall@5: a question counts as found when one of its top-5 chunks contains one of its ``evidence``
strings, both sides whitespace-collapsed and with curly quotes folded to straight ones. Questions
without evidence (out of scope) are skipped. Both systems get the question text alone (d25 is a
follow-up whose subject is only in its history; neither retriever sees the history here).
Writes bench/results/baseline_langchain.json and .png.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import typer
from common import (
    ARTICLE,
    CACHE,
    RESULTS,
    dev_questions,
    machine,
    new_figure,
    parse_sizes,
    percentile,
    print_table,
    save_figure,
    write_json,
)

NAME = "baseline_langchain"
K = 5
app = typer.Typer(add_completion=False)

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text.translate(_QUOTES)).strip()


def found(texts: list[str], evidence: list[str]) -> bool:
    chunks = [normalize(t) for t in texts]
    return any(normalize(e) in c for e in evidence for c in chunks)


def make_tutorial_embeddings(model_path: str):
    from langchain_core.embeddings import Embeddings
    from sentence_transformers import SentenceTransformer

    class TutorialHFEmbeddings(Embeddings):
        """What langchain_huggingface.HuggingFaceEmbeddings(model_name=path) does with its defaults."""

        def __init__(self, model_name: str) -> None:
            self.client = SentenceTransformer(model_name, device="cpu", local_files_only=True)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            texts = [t.replace("\n", " ") for t in texts]
            return self.client.encode(texts, show_progress_bar=False).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return TutorialHFEmbeddings(model_path)


def files_for(n_synthetic: int) -> list[Path]:
    from synthetic import write_corpus

    files = [ARTICLE]
    if n_synthetic:
        files += write_corpus(CACHE / f"synthetic-{n_synthetic}", n_synthetic)
    return files


def run_baseline(files: list[Path], questions: list[dict], embeddings) -> dict:
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    tmp = Path(tempfile.mkdtemp(prefix="bench-lc-"))
    try:
        started = time.perf_counter()
        docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": str(f)}) for f in files]
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
        split_s = time.perf_counter() - started
        store = Chroma.from_documents(
            splits, embeddings, collection_name="tutorial", persist_directory=str(tmp / "chroma"),
            client_settings=ChromaSettings(anonymized_telemetry=False, is_persistent=True,
                                           persist_directory=str(tmp / "chroma")),
        )
        ingest_s = time.perf_counter() - started
        store.similarity_search("warm up", k=K)
        latencies, hits, per_q = [], 0, {}
        scored = [q for q in questions if q.evidence]
        for q in scored:
            t = time.perf_counter()
            results = store.similarity_search(q.question, k=K)
            latencies.append(time.perf_counter() - t)
            ok = found([d.page_content for d in results], q.evidence)
            hits += ok
            per_q[q.id] = ok
        for _ in range(2):  # more latency samples
            for q in scored:
                t = time.perf_counter()
                store.similarity_search(q.question, k=K)
                latencies.append(time.perf_counter() - t)
        return {
            "chunks": len(splits), "ingest_s": ingest_s, "split_s": split_s, "chunks_per_s": len(splits) / ingest_s,
            "docs_per_s": len(files) / ingest_s,
            "retrieve_p50_ms": 1000 * percentile(latencies, 50), "retrieve_p95_ms": 1000 * percentile(latencies, 95),
            "recall_at_5": hits / len(scored), "found": hits, "scored": len(scored), "per_question": per_q,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_ours(files: list[Path], questions: list[dict], embedder) -> dict:
    from assistant.service import Assistant
    from assistant.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    try:
        bot = Assistant(Settings(data_dir=tmp / "data"), embedder=embedder)
        started = time.perf_counter()
        report = bot.ingest(files)
        ingest_s = time.perf_counter() - started
        bot.retriever.retrieve("warm up")
        latencies, hits, per_q = [], 0, {}
        scored = [q for q in questions if q.evidence]
        for rnd in range(3):
            for q in scored:
                embedder._cached_query.cache_clear()
                t = time.perf_counter()
                results = bot.retriever.retrieve(q.question)[:K]
                latencies.append(time.perf_counter() - t)
                if rnd == 0:
                    ok = found([h.chunk.text for h in results], q.evidence)
                    hits += ok
                    per_q[q.id] = ok
        return {
            "chunks": report.chunks, "ingest_s": ingest_s, "chunks_per_s": report.chunks / ingest_s,
            "docs_per_s": len(files) / ingest_s,
            "retrieve_p50_ms": 1000 * percentile(latencies, 50), "retrieve_p95_ms": 1000 * percentile(latencies, 95),
            "recall_at_5": hits / len(scored), "found": hits, "scored": len(scored), "per_question": per_q,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def plot(results: list[dict], out: Path) -> None:
    labels = [r["corpus"] for r in results]
    fig, axes = new_figure(3, 4.2)
    for ax, key, title in (
        (axes[0], "recall_at_5", "recall@5 on the dev questions"),
        (axes[1], "retrieve_p50_ms", "retrieval p50 (ms, incl. query embedding)"),
        (axes[2], "chunks_per_s", "ingest chunks/s"),
    ):
        xs = range(len(results))
        ax.bar([i - 0.2 for i in xs], [r["langchain"][key] for r in results], 0.4, label="langchain tutorial")
        ax.bar([i + 0.2 for i in xs], [r["ours"][key] for r in results], 0.4, label="ours (hybrid)")
        ax.set_xticks(list(xs), labels)
        ax.set_title(title)
        ax.legend()
    save_figure(fig, out)


@app.command()
def main(
    synthetic: str = typer.Option("0,50", help="Synthetic distractor documents added to the article, per case."),
) -> None:
    import importlib.metadata as md

    from store.embeddings import Embedder, bundled_model_path

    info = machine()
    questions = dev_questions()
    embedder = Embedder()
    tutorial = make_tutorial_embeddings(str(bundled_model_path()))
    results = []
    for n in parse_sizes(synthetic):
        files = files_for(n)
        label = "article" if n == 0 else f"article+{n}"
        print(f"[{time.strftime('%H:%M:%S')}] {label}: langchain tutorial pipeline ...", flush=True)
        lc = run_baseline(files, questions, tutorial)
        print(f"[{time.strftime('%H:%M:%S')}] {label}: ours ...", flush=True)
        ours = run_ours(files, questions, embedder)
        results.append({"corpus": label, "files": len(files), "langchain": lc, "ours": ours})
    rows = []
    for r in results:
        for system in ("langchain", "ours"):
            s = r[system]
            rows.append([r["corpus"], system, s["chunks"], s["ingest_s"], s["chunks_per_s"], s["retrieve_p50_ms"],
                         s["retrieve_p95_ms"], f"{s['recall_at_5']:.3f} ({s['found']}/{s['scored']})"])
    print_table(["case", "system", "chunks", "ingest s", "chunks/s", "retrieve p50 ms", "p95 ms", "recall@5"],
                rows, title="langchain tutorial pipeline vs ours, same files and dev questions")
    for r in results:
        missed_lc = [q for q, ok in r["langchain"]["per_question"].items() if not ok]
        missed_ours = [q for q, ok in r["ours"]["per_question"].items() if not ok]
        print(f"  {r['corpus']}: langchain missed {missed_lc}; ours missed {missed_ours}")
    versions = {p: md.version(p) for p in ("langchain-core", "langchain-chroma", "langchain-text-splitters",
                                           "chromadb", "sentence-transformers")}
    payload = {
        "bench": NAME,
        "command": "python bench/baseline_langchain.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "versions": versions,
        "notes": [
            "langchain-huggingface not installed (requires huggingface-hub<2; project pins 2.x): HuggingFaceEmbeddings "
            "reproduced from langchain_core Embeddings + SentenceTransformer with its default behaviour",
            "vector store: langchain_chroma.Chroma, similarity_search k=5 (Chroma default l2 on unit vectors)",
            "ours: Assistant.ingest + HybridRetriever.retrieve()[:5], query-vector cache cleared per query",
            "recall@5: top-5 chunk texts contain an evidence string (whitespace collapsed, curly quotes folded)",
        ],
        "results": results,
    }
    print(f"wrote {write_json(NAME, payload)}")
    plot(results, RESULTS / f"{NAME}.png")
    print(f"wrote {RESULTS / (NAME + '.png')}")


if __name__ == "__main__":
    app()
