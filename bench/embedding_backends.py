"""Embedding backends side by side, in one run: sentence-transformers (torch) vs ONNX Runtime fp32 vs int8.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_backends.py                        # article + 40 synthetic docs
    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_backends.py --docs 80 --rounds 5
    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_backends.py --threads 1   # 1 thread each: steadier under load
    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_backends.py --no-int8 --query-rounds 2

Backends (all on CPU, same thread count, same texts, same tokenizer settings):

* ``torch``: ``store.embeddings.Embedder`` exactly as the product loads it (sentence-transformers,
  ``encode`` with batch 32 for chunks, ``model.encode([q])`` for a query);
* ``onnx-fp32``: the product's ``onnx`` backend (store/onnx_encoder.py, ``ASSISTANT_EMBEDDING_BACKEND``):
  the bundled model's transformer exported locally with ``torch.onnx.export``
  (input_ids, attention_mask, token_type_ids -> last_hidden_state, dynamic batch and sequence axes),
  run by onnxruntime; tokenization with the model folder's own tokenizer (max_seq_length from the
  SentenceTransformer), then mean pooling over the attention mask and L2 normalization in numpy, as
  the model's modules.json / 1_Pooling config prescribe; texts length-sorted into batches of 32 like
  sentence-transformers does;
* ``onnx-int8``: the same ONNX file through ``onnxruntime.quantization.quantize_dynamic`` (int8
  per-channel weights of the MatMuls, activations quantized at run time), unless ``--no-int8``.

Nothing is downloaded: the exported and quantized files are cached under
``bench/results/cache/onnx/`` (rebuilt when the model file, torch/onnxruntime or the recipe change).

Measured, interleaved so that load from other work on the machine hits every backend alike:

1. chunk throughput: R rounds; in each round every backend (order rotated per round) encodes all
   chunk texts (the bundled article's chunks + chunks of N synthetic documents, chunked with the
   product's settings; section heading + chunk text, as ingest feeds the encoder), batch 32.
   Reported: median chunks/s and median of the per-round ratios to torch; CPU time per chunk.
2. single-query latency: Q rounds; in each round every backend (order rotated) embeds each dev
   question once, uncached, back to back. p50 / p95 ms. onnxruntime runs with thread spinning off
   (spinning threads of one backend slowed the next one's queries ~2x).
3. quality: per backend, the article's chunks and the dev questions (rows with ``evidence``, without
   ``abstain``; the question alone, no history) are embedded; dense-only (cosine) ranking of the
   article's chunks; recall@k = a top-k chunk contains an evidence string (assistant.evaluation.normalize:
   case, whitespace, quotes). Also with the synthetic chunks as distractors. Agreement with torch:
   max (1 - cos) between a backend's vector and torch's for the same text, and max |score difference|
   over all question x chunk cosine scores.

Writes bench/results/embedding_backends.json and .png, prints a table and a verdict per backend
(rule: switch the default only if faster AND dev-set recall does not drop).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ARTICLE,
    CACHE,
    RESULTS,
    dev_questions,
    machine,
    new_figure,
    percentile,
    print_table,
    save_figure,
    write_json,
)
from onnx_models import BATCH, OnnxEncoder, model_dir, onnx_files, pooling_config

NAME = "embedding_backends"


class Backend:
    def __init__(self, name: str, encode: Callable, query: Callable, load_s: float, file: Path | None) -> None:
        self.name, self.encode, self.query, self.load_s = name, encode, query, load_s
        self.file_mb = file.stat().st_size / 2**20 if file else None


def load_backends(want_int8: bool, recipe: dict) -> tuple[list[Backend], dict]:
    import torch

    from store.embeddings import Embedder

    started = time.perf_counter()
    embedder = Embedder(batch_size=BATCH, backend="torch")  # the reference row (the default is onnx)
    torch_load = time.perf_counter() - started
    folder = model_dir()
    config = pooling_config(folder)
    if config["max_seq_length"] != embedder.max_tokens:
        raise SystemExit(f"max_seq_length mismatch: config {config['max_seq_length']} vs model {embedder.max_tokens}")
    weights = folder / "model.safetensors"
    backends = [Backend("torch", embedder.encode, embedder._encode_query, torch_load, weights)]
    files = onnx_files(folder, want_int8, recipe)
    threads = torch.get_num_threads()
    for name, path in (("onnx-fp32", files["fp32"]), ("onnx-int8", files["int8"])):
        if path is None:
            continue
        started = time.perf_counter()
        enc = OnnxEncoder(path, folder, embedder.max_tokens, threads)
        backends.append(Backend(name, enc.encode, enc.query, time.perf_counter() - started, path))
    info = {"model_dir": str(folder), "pipeline": config, "threads": threads,
            "export_s": files["export_s"], "quantize_s": files["quantize_s"], "int8_error": files["int8_error"],
            "int8_recipe": recipe if want_int8 else None}
    return backends, info


# ---------------------------------------------------------------------------- inputs


def chunk_texts(n_docs: int) -> tuple[list, list[str], int]:
    """(article chunks, texts the encoder sees for article + synthetic chunks, number of article chunks)."""
    from synthetic import write_corpus

    from assistant.settings import Settings
    from ingest.chunking import chunk_document
    from ingest.loaders import load
    from store.chroma_index import embedding_input

    settings = Settings()
    config = settings.chunking
    article = chunk_document(load(ARTICLE), config)
    files = write_corpus(CACHE / "synthetic-docs", n_docs) if n_docs else []
    synthetic = [c for f in files for c in chunk_document(load(f), config)]
    texts = [embedding_input(c)[0] for c in (*article, *synthetic)]
    return article, texts, len(article)


def quality_questions() -> list[dict]:
    return [q for q in dev_questions() if q.evidence and not q.abstain]


# ---------------------------------------------------------------------------- measuring


def rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return items[shift:] + items[:shift]


def measure_throughput(backends: list[Backend], texts: list[str], rounds: int) -> tuple[dict, dict]:
    """Per backend: per-round chunks/s and CPU s; plus each backend's vectors of the texts (first round)."""
    per = {b.name: {"chunks_per_s": [], "cpu_ms_per_chunk": [], "loadavg": []} for b in backends}
    vectors = {}
    for r in range(rounds):
        for b in rotated(backends, r):
            started, cpu = time.perf_counter(), time.process_time()
            out = b.encode(texts)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            per[b.name]["chunks_per_s"].append(len(texts) / wall)
            per[b.name]["cpu_ms_per_chunk"].append(1000 * cpu / len(texts))
            per[b.name]["loadavg"].append(round(os.getloadavg()[0], 2))
            vectors.setdefault(b.name, out)
            print(f"  round {r + 1}/{rounds} {b.name:<10} {len(texts) / wall:7.1f} chunks/s", flush=True)
    return per, vectors


def measure_queries(backends: list[Backend], questions: list[str], rounds: int) -> dict:
    """Per round, each backend (order rotated) embeds every question once, back to back."""
    times: dict[str, list[float]] = {b.name: [] for b in backends}
    for r in range(rounds):
        for b in rotated(backends, r):
            b.query("warm up after the previous backend")
            for q in questions:
                started = time.perf_counter()
                b.query(q)
                times[b.name].append(time.perf_counter() - started)
    return times


def recall(scores, gold: list[set[int]], ks: Sequence[int]) -> dict:
    import numpy as np

    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        hits = sum(1 for row, g in zip(order, gold, strict=True) if g & set(row[:k].tolist()))
        out[f"recall@{k}"] = hits / len(gold)
        out[f"hits@{k}"] = hits
    out["top1"] = order[:, 0].tolist()
    return out


def measure_quality(backends: list[Backend], article: list, texts: list[str], n_article: int,
                    vectors: dict, questions: list[dict]) -> dict:
    import numpy as np

    from assistant.evaluation import normalize

    chunk_norm = [normalize(c.text) for c in article]
    gold = [{i for i, t in enumerate(chunk_norm) if any(normalize(e) in t for e in q.evidence)} for q in questions]
    result = {"questions": len(questions), "with_gold_chunk": sum(1 for g in gold if g), "backends": {}}
    qvecs = {b.name: np.stack([b.query(q.question) for q in questions]) for b in backends}
    ref_q, ref_c = qvecs["torch"], vectors["torch"]
    for b in backends:
        q, c = qvecs[b.name], vectors[b.name]
        article_scores = q @ c[:n_article].T
        all_scores = q @ c.T
        row = {
            "article": recall(article_scores, gold, (1, 5)),
            "with_distractors": recall(all_scores, gold, (1, 5)),
            "max_1_minus_cos_chunks": float(np.max(1 - np.sum(c * ref_c, axis=1))),
            "max_1_minus_cos_queries": float(np.max(1 - np.sum(q * ref_q, axis=1))),
            "max_abs_score_diff": float(np.max(np.abs(all_scores - ref_q @ ref_c.T))),
        }
        row["max_1_minus_cos"] = max(row["max_1_minus_cos_chunks"], row["max_1_minus_cos_queries"])
        row["top1_same_as_torch"] = float(np.mean(
            np.array(row["article"]["top1"]) == np.argmax(ref_q @ ref_c[:n_article].T, axis=1)))
        result["backends"][b.name] = row
    result["missed_by_torch_at_5"] = [q.id for q, g, t in zip(
        questions, gold, np.argsort(-(ref_q @ ref_c[:n_article].T), axis=1)[:, :5], strict=True)
        if not (g & set(t.tolist()))]
    return result


# ---------------------------------------------------------------------------- report


def summarize(backends: list[Backend], per: dict, qtimes: dict, quality: dict) -> list[dict]:
    import statistics

    rows = []
    ref = per["torch"]["chunks_per_s"]
    ref_p50 = percentile([1000 * t for t in qtimes["torch"]], 50)
    for b in backends:
        cps = per[b.name]["chunks_per_s"]
        ratios = [x / y for x, y in zip(cps, ref, strict=True)]
        ms = [1000 * t for t in qtimes[b.name]]
        qrow = quality["backends"][b.name]
        rows.append({
            "backend": b.name,
            "file_mb": b.file_mb,
            "load_s": b.load_s,
            "chunks_per_s": statistics.median(cps),
            "chunks_per_s_rounds": cps,
            "throughput_vs_torch": statistics.median(ratios),
            "throughput_vs_torch_rounds": ratios,
            "cpu_ms_per_chunk": statistics.median(per[b.name]["cpu_ms_per_chunk"]),
            "query_p50_ms": percentile(ms, 50),
            "query_p95_ms": percentile(ms, 95),
            "query_n": len(ms),
            "query_p50_speedup_vs_torch": ref_p50 / percentile(ms, 50),
            "recall@1": qrow["article"]["recall@1"],
            "recall@5": qrow["article"]["recall@5"],
            "recall@1_distractors": qrow["with_distractors"]["recall@1"],
            "recall@5_distractors": qrow["with_distractors"]["recall@5"],
            "max_1_minus_cos": qrow["max_1_minus_cos"],
            "max_abs_score_diff": qrow["max_abs_score_diff"],
            "top1_same_as_torch": qrow["top1_same_as_torch"],
        })
    torch_row = rows[0]
    for row in rows:
        faster = row["throughput_vs_torch"] > 1.0 and row["query_p50_speedup_vs_torch"] > 1.0
        no_drop = all(row[k] >= torch_row[k] for k in
                      ("recall@1", "recall@5", "recall@1_distractors", "recall@5_distractors"))
        row["faster"], row["recall_kept"] = faster, no_drop
        if row["backend"] == "torch":
            row["verdict"] = "current default"
        elif faster and no_drop:
            row["verdict"] = "faster, recall kept: candidate for default"
        else:
            why = [w for w, bad in (("not faster", not faster), ("recall drops", not no_drop)) if bad]
            row["verdict"] = "keep torch (" + ", ".join(why) + ")"
    return rows


def plot(rows: list[dict], out: Path) -> None:
    names = [r["backend"] for r in rows]
    xs = range(len(rows))
    fig, axes = new_figure(3, 4.2)
    ax = axes[0]
    ax.bar(xs, [r["chunks_per_s"] for r in rows], color="tab:blue")
    for i, r in enumerate(rows):
        ax.plot([i] * len(r["chunks_per_s_rounds"]), r["chunks_per_s_rounds"], "k.", markersize=5)
        ax.annotate(f"{r['throughput_vs_torch']:.2f}x", (i, r["chunks_per_s"]), ha="center", va="bottom")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("chunks/s (bar: median, dots: rounds)")
    ax.set_title(f"Chunk encoding, batch {BATCH}")
    ax = axes[1]
    ax.bar(xs, [r["query_p50_ms"] for r in rows], color="tab:orange")
    ax.errorbar(list(xs), [r["query_p50_ms"] for r in rows],
                yerr=[[0] * len(rows), [r["query_p95_ms"] - r["query_p50_ms"] for r in rows]],
                fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("ms (bar p50, whisker p95)")
    ax.set_title("One query embedding")
    ax = axes[2]
    width = 0.2
    series = (("recall@1", "R@1 article"), ("recall@5", "R@5 article"),
              ("recall@1_distractors", "R@1 + distractors"), ("recall@5_distractors", "R@5 + distractors"))
    for k, (key, label) in enumerate(series):
        ax.bar([i + (k - 1.5) * width for i in xs], [r[key] for r in rows], width, label=label)
    ax.set_xticks(list(xs), names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("dense-only recall (dev set)")
    ax.set_title("Retrieval quality")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, out)


def _cpu_pressure() -> str | None:
    """Linux PSI line 'some avg10=.. avg60=..': how much runnable work waited for a CPU (other load)."""
    try:
        return Path("/proc/pressure/cpu").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=40, help="Synthetic documents added to the article's chunks.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved throughput rounds over all chunks.")
    parser.add_argument("--query-rounds", type=int, default=3, help="Rounds of single-query latency over the dev set.")
    parser.add_argument("--threads", type=int, default=0,
                        help="Threads per backend (torch.set_num_threads and ORT intra-op); default: torch's default. "
                        "Results go to embedding_backends_threads<N>.json/.png.")
    parser.add_argument("--no-int8", action="store_true", help="Skip the int8 quantized ONNX model.")
    parser.add_argument("--int8-ops", default="MatMul", help="Op types quantize_dynamic quantizes, comma separated.")
    parser.add_argument("--per-tensor", action="store_true",
                        help="Per-tensor int8 weights (default per-channel: per-tensor gave 1-cos up to 0.13 here).")
    parser.add_argument("--reduce-range", action="store_true", help="7-bit weights (avoids AVX2 u8s8 saturation).")
    args = parser.parse_args()

    name = f"{NAME}_threads{args.threads}" if args.threads else NAME
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    info = machine()
    info["cpu_pressure_at_start"] = _cpu_pressure()
    recipe = {"op_types": [s for s in args.int8_ops.split(",") if s], "per_channel": not args.per_tensor,
              "reduce_range": args.reduce_range, "weight_type": "QInt8"}
    backends, model_info = load_backends(not args.no_int8, recipe)
    article, texts, n_article = chunk_texts(args.docs)
    questions = quality_questions()
    words = [len(t.split()) for t in texts]
    print(f"[{time.strftime('%H:%M:%S')}] {len(texts)} chunk texts ({n_article} from the article, "
          f"{sum(words) / len(words):.0f} words on average), {len(questions)} dev questions with evidence; "
          f"backends: {', '.join(b.name for b in backends)}; {model_info['threads']} threads each", flush=True)

    for b in backends:  # warm up: first calls allocate and pick kernels
        b.encode(texts[:BATCH])
        b.query("warm up")

    print(f"[{time.strftime('%H:%M:%S')}] throughput, {args.rounds} interleaved rounds ...", flush=True)
    per, vectors = measure_throughput(backends, texts, args.rounds)
    print(f"[{time.strftime('%H:%M:%S')}] single-query latency ...", flush=True)
    all_questions = [q.question for q in dev_questions()]
    qtimes = measure_queries(backends, all_questions, args.query_rounds)
    print(f"[{time.strftime('%H:%M:%S')}] dev-set retrieval quality ...", flush=True)
    quality = measure_quality(backends, article, texts, n_article, vectors, questions)
    rows = summarize(backends, per, qtimes, quality)

    print_table(
        ["backend", "file MB", "chunks/s", "x torch", "CPU ms/chunk", "query p50 ms", "p95 ms", "p50 speedup",
         "R@1", "R@5", "R@1 +distr", "R@5 +distr", "max 1-cos", "max |Δscore|"],
        [[r["backend"], r["file_mb"], r["chunks_per_s"], r["throughput_vs_torch"], r["cpu_ms_per_chunk"],
          r["query_p50_ms"], r["query_p95_ms"], r["query_p50_speedup_vs_torch"], r["recall@1"], r["recall@5"],
          r["recall@1_distractors"], r["recall@5_distractors"], f"{r['max_1_minus_cos']:.1e}",
          f"{r['max_abs_score_diff']:.1e}"]
         for r in rows],
        title=(f"Embedding backends, one run: {len(texts)} chunks x {args.rounds} rounds (batch {BATCH}), "
               f"{rows[0]['query_n']} single queries, {len(questions)} dev questions; {model_info['threads']} threads"),
    )
    for r in rows:
        print(f"  {r['backend']:<10} {r['verdict']}  (per-round throughput ratios to torch: "
              + ", ".join(f"{x:.2f}" for x in r["throughput_vs_torch_rounds"]) + ")")
    payload = {
        "bench": name,
        "command": "python bench/embedding_backends.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "loadavg_1min_end": round(os.getloadavg()[0], 2),
        "cpu_pressure_at_end": _cpu_pressure(),
        "inputs": {"chunks": len(texts), "article_chunks": n_article, "synthetic_docs": args.docs,
                   "mean_words": sum(words) / len(words), "batch": BATCH, "rounds": args.rounds,
                   "query_rounds": args.query_rounds, "dev_questions_quality": len(questions)},
        "model": model_info,
        "rule": "switch the default only if faster (chunk throughput and query p50) AND dev-set recall does not drop",
        "notes": [
            "throughput: every round encodes all chunk texts with every backend, order rotated per round; "
            "x torch = median over rounds of (backend chunks/s / torch chunks/s in the same round)",
            "CPU ms/chunk = process CPU time (all threads) per chunk, median over rounds",
            "query latency: one uncached single-text encode per dev question; per round each backend does all "
            "questions back to back, backend order rotated per round",
            "onnxruntime sessions: intra_op threads = torch threads, inter_op 1, ORT_ENABLE_ALL, thread spinning "
            "off (spinning ORT threads made the interleaved torch queries ~2x slower)",
            "recall: dense-only cosine ranking of the article's chunks (and with the synthetic chunks as "
            "distractors); a hit = a top-k chunk whose text contains an evidence string (normalized)",
            "max 1-cos: largest 1 - cos(backend vector, torch vector) over all chunk and question texts; "
            "max |Δscore|: largest difference of a question x chunk cosine score vs torch",
        ],
        "results": rows,
        "quality": quality,
    }
    print(f"wrote {write_json(name, payload)}")
    plot(rows, RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / (name + '.png')}")


if __name__ == "__main__":
    main()
