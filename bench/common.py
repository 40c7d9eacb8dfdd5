"""Helpers shared by the benches: paths, timing, percentiles, machine facts, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.evaluation import EvalQuestion

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
# Built collections and generated corpora; safe to delete, rebuilt on demand (gitignore it).
CACHE = Path(os.environ.get("BENCH_CACHE", RESULTS / "cache"))
ARTICLE = ROOT / "corpus" / "strategic-mechanism.md"
DEV_QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"


def dev_questions() -> list[EvalQuestion]:
    from assistant.evaluation import load_questions  # after the sys.path line above

    return load_questions(DEV_QUESTIONS)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024


def current_rss_mb() -> float:
    """Resident set size now (VmRSS; Linux). Unlike ru_maxrss it is not inherited: a child started by a
    process that once held more reports its own."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def machine() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


class Timer:
    """Accumulates wall time spent inside wrapped callables, by label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    @contextmanager
    def span(self, label: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in headers:
        left = h in {"case", "size", "system", "stage", "function"}
        table.add_column(h, justify="left" if left else "right", no_wrap=left)
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    Console(width=160).print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def parse_sizes(text: str) -> list[int]:
    """'1000,10k,100_000' -> [1000, 10000, 100000]."""
    sizes = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        part = part.lower().replace("_", "")
        mult = 1000 if part.endswith("k") else 1
        sizes.append(int(float(part.rstrip("k")) * mult))
    return sizes


def new_figure(columns: int, height: float):
    """A row of ``columns`` plots, drawn off-screen (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(15, height))


def save_figure(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def serve_loopback(app):
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a daemon thread: (base URL, server)."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server
