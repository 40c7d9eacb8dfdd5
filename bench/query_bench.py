"""Query latency with the model warm at 1k / 10k / 100k chunks: retrieval only, full ask, one embedding.

    .venv/bin/python bench/query_bench.py                          # 1k and 10k chunks, profile at 10k
    .venv/bin/python bench/query_bench.py --sizes 1k,10k,100k      # also 100k (build: 35-50 min, loaded 2 cores)
    .venv/bin/python bench/query_bench.py --sizes 10k --profile 10k --rounds 2

How the collections are built (cached under bench/results/cache/query-<size>/, reused by later runs):

* every size holds the bundled article, ingested through the real path, so the dev questions have
  their answers (once) among the distractors;
* the 1k collection adds real synthetic documents (bench/synthetic.py), ingested through the real
  path (``Assistant.ingest``: real chunk and sentence vectors) until it holds >= 1,000 chunks;
* the larger sizes are NOT encoded (100k chunks would take ~45 min of encoder time here): they
  start from a copy of the 1k store and add *derived* chunks written straight into the indexes
  (``collection.dense.add_vectors`` + ``collection.keyword.add`` + manifest entries). Copy ``j`` of a
  base synthetic chunk keeps its layout but swaps every pseudo-word for another of the same length
  (a per-copy permutation, so sentence offsets stay valid and the BM25 vocabulary grows), and gets
  the base chunk's vector and sentence vectors plus Gaussian noise (sigma 0.02 per dimension,
  cosine ~0.93 to the original), re-normalized.

Per size, in its own process: warm the model and the BM25 matrix (the first query, timed
separately), then for R rounds over the dev questions: one bare torch query embedding (the yardstick: a
sentence-transformers model of the same folder, ``model.encode([q])``), one query embedding of the
assistant's own backend (``bot.embedder.encoder.query(q)``: onnx by default), ``bot.retriever.retrieve(q)``
and ``bot.ask(q, history)``, both with the query-vector cache cleared first so each pays for exactly one
embedding. Reports p50/p95 and ask p50 / bare torch embedding p50 (targets: <= 1.5x at 10k, <= 2x at 100k).
Writes bench/results/query_bench.json, .png, and the profile of ``ask`` (pyinstrument tree + cProfile
tables) as query_bench_profile_<size>.txt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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
    ROOT,
    current_rss_mb,
    dev_questions,
    machine,
    new_figure,
    parse_sizes,
    peak_rss_mb,
    percentile,
    print_table,
    save_figure,
    write_json,
)

NAME = "query_bench"
BASE_CHUNKS = 1000
NOISE_SIGMA = 0.02
BUILD_VERSION = 1  # bump when the build recipe changes: cached collections are rebuilt
TARGETS = {1000: None, 10000: 1.5, 100000: 2.0}

app = typer.Typer(add_completion=False)


# ---------------------------------------------------------------------------- building collections


def collection_dir(size: int) -> Path:
    return CACHE / f"query-{size}"


def _built(folder: Path, size: int) -> bool:
    marker = folder / "bench-build.json"
    if not marker.exists():
        return False
    info = json.loads(marker.read_text(encoding="utf-8"))
    return info.get("version") == BUILD_VERSION and info.get("size") == size


def build_base(size: int = BASE_CHUNKS) -> Path:
    """Article + real synthetic documents through ``Assistant.ingest`` until >= ``size`` chunks."""
    from synthetic import write_corpus

    from assistant.service import Assistant
    from assistant.settings import Settings

    folder = collection_dir(size)
    if _built(folder, size):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    bot = Assistant(Settings(data_dir=folder))
    bot.ingest([ARTICLE])
    docs_dir = CACHE / "query-docs"
    n_docs = 0
    while bot.collection.count() < size:
        need = size - bot.collection.count()
        batch = max(1, min(50, need // 8 + 1))
        files = write_corpus(docs_dir, batch, start=n_docs)
        n_docs += batch
        bot.ingest(files)
    info = {"version": BUILD_VERSION, "size": size, "chunks": bot.collection.count(), "synthetic_docs": n_docs,
            "how": "article + real synthetic docs ingested with Assistant.ingest (real vectors)",
            "build_s": time.perf_counter() - started}
    (folder / "bench-build.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return folder


def _word_maps(copies: int, seed: int = 99) -> list[dict[str, str]]:
    """Per copy, a permutation of the pseudo-vocabulary within each word length."""
    import random

    from synthetic import vocabulary

    words, _ = vocabulary()
    by_len: dict[int, list[str]] = {}
    for w in words:
        by_len.setdefault(len(w), []).append(w)
    maps = []
    for j in range(copies):
        rng = random.Random(seed * 7919 + j)
        mapping: dict[str, str] = {}
        for group in by_len.values():
            shuffled = group[:]
            rng.shuffle(shuffled)
            mapping.update(zip(group, shuffled, strict=True))
            mapping.update((a.capitalize(), b.capitalize()) for a, b in zip(group, shuffled, strict=True))
        maps.append(mapping)
    return maps


def build_large(size: int) -> Path:
    """Copy the base store and add derived chunks with perturbed precomputed vectors."""
    import numpy as np

    from assistant.service import Assistant
    from assistant.settings import Settings
    from ingest.records import Chunk, chunk_id
    from store.manifest import SourceEntry

    folder = collection_dir(size)
    if _built(folder, size):
        return folder
    base_dir = build_base()
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    shutil.copytree(base_dir, folder)
    (folder / "bench-build.json").unlink()
    bot = Assistant(Settings(data_dir=folder))
    col = bot.collection

    # base pool: the synthetic chunks of the base store, with their stored vectors
    base_ids = [i for i in col.keyword.all_ids()]
    base = [c for c in col.keyword.get(base_ids) if Path(c.source).resolve() != ARTICLE.resolve()]
    got = col.dense.chunks.get(ids=[c.id for c in base], include=["embeddings"])
    vec_by_id = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    sent_vecs = col.dense.sentence_vectors(base)
    base = [c for c in base if c.id in vec_by_id and c.id in sent_vecs]

    need = size - col.count()
    copies = -(-need // len(base))
    maps = _word_maps(copies)
    pattern = re.compile(r"[A-Za-z]+")
    rng = np.random.default_rng(20240)
    manifest = col.manifest.load()
    added = 0
    pending: list[tuple[Chunk, np.ndarray, np.ndarray]] = []
    virtual = CACHE / "virtual-sources"

    def flush() -> None:
        if not pending:
            return
        chunks = [p[0] for p in pending]
        col.dense.add_vectors(chunks, np.stack([p[1] for p in pending]), [p[2] for p in pending])
        col.keyword.add(chunks)
        pending.clear()

    def perturb(v: np.ndarray) -> np.ndarray:
        out = v + rng.normal(0.0, NOISE_SIGMA, size=v.shape).astype(np.float32)
        return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)

    for j in range(copies):
        mapping = maps[j]

        def swap(text: str, mapping: dict[str, str] = mapping) -> str:
            return pattern.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)

        by_source: dict[str, list[str]] = {}
        for c in base:
            if added >= need:
                break
            source = str(virtual / f"copy-{j:04d}" / Path(c.source).name)
            text = swap(c.text)
            assert len(text) == len(c.text)
            chunk = Chunk(
                id=chunk_id(source, text, c.start), source=source, text=text, start=c.start, end=c.end,
                title=swap(c.title), section=swap(c.section), sentences=c.sentences, page=c.page,
                metadata=dict(c.metadata),
            )
            pending.append((chunk, perturb(vec_by_id[c.id]), perturb(sent_vecs[c.id])))
            by_source.setdefault(source, []).append(chunk.id)
            added += 1
            if len(pending) >= 2000:
                flush()
        flush()
        for source, ids in by_source.items():
            manifest[source] = SourceEntry(source, source, f"derived-{j}", tuple(ids), "bench")
        print(f"  [{time.strftime('%H:%M:%S')}] {col.count():,} chunks", flush=True)
        if added >= need:
            break
    col.manifest.save(manifest)
    info = {"version": BUILD_VERSION, "size": size, "chunks": col.count(), "base_chunks": len(base),
            "derived_chunks": added, "noise_sigma": NOISE_SIGMA,
            "how": "copy of the 1k base store + derived chunks (per-copy same-length word permutation of base "
                   "synthetic chunks, base vectors + N(0, 0.02) noise, re-normalized) written with "
                   "dense.add_vectors / keyword.add / manifest; not encoded",
            "build_s": time.perf_counter() - started}
    (folder / "bench-build.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return folder


def build(size: int) -> Path:
    return build_base(size) if size <= BASE_CHUNKS else build_large(size)


# ---------------------------------------------------------------------------- measuring


def _stats(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "mean_ms": sum(ms) / len(ms), "n": len(ms)}


def measure(size: int, rounds: int, profile: bool) -> dict:
    from assistant.service import Assistant
    from assistant.settings import Settings

    folder = build(size)
    build_info = json.loads((folder / "bench-build.json").read_text(encoding="utf-8"))
    # work on a throwaway copy so a run never changes the cache (no writes happen, but be safe)
    work = Path(tempfile.mkdtemp(prefix="bench-query-")) / "data"
    shutil.copytree(folder, work)
    try:
        started = time.perf_counter()
        bot = Assistant(Settings(data_dir=work))
        open_s = time.perf_counter() - started
        own = bot.embedder.encoder
        own.query("warm up")
        questions = dev_questions()

        started = time.perf_counter()
        bot.retriever.retrieve("first query builds the BM25 matrix")
        first_query_s = time.perf_counter() - started
        # one unmeasured round: warms caches (Chroma segments, pysbd, stemmer)
        for q in questions:
            bot.ask(q.question, list(q.history))
        assistant_rss_mb = current_rss_mb()  # what a serving process holds: before the yardstick model is loaded

        from sentence_transformers import SentenceTransformer

        from store.embeddings import bundled_model_path

        model = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)  # the yardstick
        model.encode(["warm up"])

        embed, own_embed, retrieve, ask = [], [], [], []
        per_question: dict[str, list[float]] = {}
        for _ in range(rounds):
            for q in questions:
                text, history = q.question, list(q.history)
                t = time.perf_counter()
                model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
                embed.append(time.perf_counter() - t)
                t = time.perf_counter()
                own.query(text)
                own_embed.append(time.perf_counter() - t)

                bot.embedder._cached_query.cache_clear()
                t = time.perf_counter()
                bot.retriever.retrieve(text)
                retrieve.append(time.perf_counter() - t)

                forget_question(bot)
                t = time.perf_counter()
                bot.ask(text, history)
                ask.append(time.perf_counter() - t)
                per_question.setdefault(q.id, []).append(ask[-1])

        result = {
            "size": size,
            "chunks": bot.collection.count(),
            "build": build_info,
            "open_s": open_s,
            "first_query_s": first_query_s,
            "embed": _stats(embed),
            "backend": bot.embedder.backend,
            "backend_embed": _stats(own_embed),
            "retrieve": _stats(retrieve),
            "ask": _stats(ask),
            "ask_minus_embed_p50_ms": _stats(ask)["p50_ms"] - _stats(embed)["p50_ms"],
            "ratio_ask_p50_to_embed_p50": _stats(ask)["p50_ms"] / _stats(embed)["p50_ms"],
            "ratio_retrieve_p50_to_embed_p50": _stats(retrieve)["p50_ms"] / _stats(embed)["p50_ms"],
            "target_ratio": TARGETS.get(size),
            "slowest_questions_ms": sorted(
                ((k, 1000 * sorted(v)[len(v) // 2]) for k, v in per_question.items()), key=lambda kv: -kv[1]
            )[:5],
            "assistant_rss_mb": assistant_rss_mb,
            "peak_rss_mb": peak_rss_mb(),
            "loadavg_1min_end": round(os.getloadavg()[0], 2),
        }
        if profile:
            result["profile"] = profile_ask(bot, questions, size, rounds=max(2, rounds))
        return result
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)


def profile_ask(bot, questions: list[dict], size: int, rounds: int) -> dict:
    """pyinstrument tree (if installed) and cProfile tables of ``ask`` over the dev questions."""
    import cProfile
    import io
    import pstats


    def run() -> None:
        for _ in range(rounds):
            for q in questions:
                forget_question(bot)
                bot.ask(q.question, list(q.history))

    out = io.StringIO()
    calls = rounds * len(questions)
    out.write(f"Profile of Assistant.ask at {size:,} chunks: {calls} calls (dev questions x {rounds}), "
              "query-vector cache cleared before each call\n\n")
    try:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        run()
        profiler.stop()
        out.write("== pyinstrument (wall clock) ==\n")
        out.write(profiler.output_text(unicode=False, color=False, show_all=False))
        out.write("\n")
    except ImportError:
        out.write("(pyinstrument not installed: pip install pyinstrument for the call tree)\n\n")

    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    stats = pstats.Stats(prof)
    total = max(stats.total_tt, 1e-9)
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append({"function": f"{_short(filename)}:{line}({func})", "calls": nc, "tottime_s": tt,
                     "cumtime_s": ct, "cum_ms_per_ask": 1000 * ct / calls})
    ours = [r for r in rows if r["function"].startswith(("assistant/", "store/", "ingest/"))]
    ours.sort(key=lambda r: -r["cumtime_s"])
    by_self = sorted(rows, key=lambda r: -r["tottime_s"])[:25]
    by_cum = sorted(rows, key=lambda r: -r["cumtime_s"])[:40]
    out.write(f"== cProfile: total {total:.2f} s over {calls} asks = {1000 * total / calls:.1f} ms/ask ==\n")
    out.write("\n-- project functions by cumulative time --\n")
    for r in ours[:30]:
        out.write(f"{r['cum_ms_per_ask']:8.2f} ms/ask  cum {r['cumtime_s']:7.2f}s  self {r['tottime_s']:6.2f}s  "
                  f"{r['calls']:>8}  {r['function']}\n")
    out.write("\n-- all functions by cumulative time --\n")
    for r in by_cum:
        out.write(f"{r['cum_ms_per_ask']:8.2f} ms/ask  cum {r['cumtime_s']:7.2f}s  self {r['tottime_s']:6.2f}s  "
                  f"{r['calls']:>8}  {r['function']}\n")
    out.write("\n-- all functions by self time --\n")
    for r in by_self:
        out.write(f"self {r['tottime_s']:7.2f}s ({100 * r['tottime_s'] / total:4.1f}%)  cum {r['cumtime_s']:7.2f}s"
                  f"  {r['calls']:>8}  {r['function']}\n")
    path = RESULTS / f"{NAME}_profile_{size}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    return {"file": str(path.relative_to(ROOT)), "asks": calls, "ms_per_ask_under_cprofile": 1000 * total / calls,
            "project_by_cumtime": ours[:20], "top_self": by_self[:15]}


def _short(filename: str) -> str:
    for marker in ("/site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---------------------------------------------------------------------------- report


def forget_question(bot) -> None:
    """Every ask pays as for a new question: clear the query-vector and per-question caches (the caches
    keyed by sentence text alone stay: sentences do repeat across different questions)."""
    from assistant import questions

    bot.embedder._cached_query.cache_clear()
    for cached in (questions.specifics, questions.is_anchored, questions.has_answer_of_type):
        cached.cache_clear()


def plot(results: list[dict], out: Path) -> None:
    sizes = [f"{r['chunks']:,}" for r in results]
    fig, axes = new_figure(2, 4.5)
    ax = axes[0]
    width = 0.2
    series = (("embed", "bare torch query embedding"), ("backend_embed", "backend's query embedding"),
              ("retrieve", "retrieve"), ("ask", "ask"))
    for k, (key, label) in enumerate(series):
        xs = [i + (k - 1.5) * width for i in range(len(results))]
        ax.bar(xs, [r[key]["p50_ms"] for r in results], width, label=f"{label} p50")
        ax.errorbar(xs, [r[key]["p50_ms"] for r in results],
                    yerr=[[0] * len(results), [r[key]["p95_ms"] - r[key]["p50_ms"] for r in results]],
                    fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(range(len(results)), sizes)
    ax.set_xlabel("chunks in the collection")
    ax.set_ylabel("ms (bar p50, whisker p95)")
    ax.set_title("Query latency, model warm")
    ax.legend()
    ax = axes[1]
    ax.plot(sizes, [r["ratio_ask_p50_to_embed_p50"] for r in results], "o-", label="ask p50 / embedding p50")
    ax.plot(sizes, [r["ratio_retrieve_p50_to_embed_p50"] for r in results], "s--", label="retrieve p50 / embedding")
    for r, s in zip(results, sizes, strict=True):
        if r["target_ratio"]:
            ax.plot([s], [r["target_ratio"]], "r_", markersize=30, mew=2)
    ax.set_ylabel("x one bare torch query embedding")
    ax.set_title("Latency as a multiple of one torch embedding (red: target)")
    ax.legend()
    save_figure(fig, out)


@app.command()
def main(
    sizes: str = typer.Option("1k,10k", help="Collection sizes in chunks, comma separated (1k,10k,100k)."),
    rounds: int = typer.Option(3, help="Measured rounds over the dev questions."),
    profile: str = typer.Option("10k", help="Size at which to profile ask ('' for none)."),
    build_only: bool = typer.Option(False, help="Only build (or check) the cached collections."),
    case: int = typer.Option(0, hidden=True),
    case_out: str = typer.Option("", hidden=True),
) -> None:
    profile_sizes = set(parse_sizes(profile)) if profile else set()
    if case:
        result = measure(case, rounds, case in profile_sizes)
        Path(case_out).write_text(json.dumps(result), encoding="utf-8")
        return
    wanted = parse_sizes(sizes)
    info = machine()
    for size in wanted:
        if not _built(collection_dir(size), size):
            print(f"[{time.strftime('%H:%M:%S')}] building the {size:,}-chunk collection (cached afterwards) ...",
                  flush=True)
            build(size)
    if build_only:
        return
    results = []
    for size in wanted:
        print(f"[{time.strftime('%H:%M:%S')}] measuring at {size:,} chunks ...", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        subprocess.run(
            [sys.executable, __file__, "--case", str(size), "--case-out", str(out), "--rounds", str(rounds),
             "--profile", profile],
            check=True, cwd=str(ROOT),
        )
        results.append(json.loads(out.read_text(encoding="utf-8")))
        out.unlink()
    rows = [
        [r["chunks"], r["embed"]["p50_ms"], r["backend_embed"]["p50_ms"], r["retrieve"]["p50_ms"],
         r["retrieve"]["p95_ms"], r["ask"]["p50_ms"],
         r["ask"]["p95_ms"], r["ratio_ask_p50_to_embed_p50"], r["target_ratio"] or "-", r["first_query_s"],
         r["assistant_rss_mb"]]
        for r in results
    ]
    print_table(
        ["chunks", "torch embed p50 ms", f"{results[0]['backend']} embed p50", "retrieve p50", "retrieve p95",
         "ask p50", "ask p95", "ask/embed",
         "target", "first query s", "assistant RSS MB"],
        rows, title=f"Query latency (model warm, {results[0]['ask']['n']} asks per size)",
    )
    for r in results:
        print(f"  {r['chunks']:,} chunks: {r['build']['how']}")
    payload = {
        "bench": NAME,
        "command": "python bench/query_bench.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "notes": [
            "sizes above 1k are built from real encoded chunks plus derived chunks with perturbed precomputed "
            "vectors written straight into the indexes (see each result's build.how); they are not encoded",
            "retrieve and ask are timed with the query-vector lru cache cleared, so each includes one embedding",
            "embed = a bare sentence-transformers model's encode([question]) (the yardstick: one torch query "
            "embedding); backend_embed = the assistant's own encoder.query(question), uncached",
            "first_query_s = the first retrieve after opening the store (builds the BM25 matrix)",
        ],
        "results": results,
    }
    print(f"wrote {write_json(NAME, payload)}")
    plot(results, RESULTS / f"{NAME}.png")
    print(f"wrote {RESULTS / (NAME + '.png')}")
    for r in results:
        if "profile" in r:
            print(f"profile at {r['chunks']:,} chunks: {r['profile']['file']}")


if __name__ == "__main__":
    app()
