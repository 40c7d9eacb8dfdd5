"""Evidence-selection options measured on the benchmark against today's ranking (docs/calibration.md).

For every answerable question with key facts, the sentences the pipeline scores (``Assistant.trace``: the same
retrieval, profile and candidates as an answer) are ranked by each option, and the rank of the first sentence
holding a key fact (one of the question's ``must`` strings) is read. Printed per collection: the share of
questions where it comes first and where it is in the top 3 ("first/top-3"). No option is fitted: each is a
rule with the weight written in its name, so every collection is out of sample for all of them.

- ``today``: the pooled sentence vector's cosine + 0.3 x term coverage + 0.05 for an answer of the expected
  type (the hand-set weights, assistant/evidence.py);
- ``fresh``: each sentence encoded on its own, in its own encoder pass, instead of its span pooled from the
  chunk's pass; ``fresh+section``: with its section heading in front; ``mean(...)``: the cosines averaged;
- ``idf coverage``: term coverage weighted by the collection's inverse document frequencies;
- ``previous``: plus w x the score of the sentence before it (manuals name the topic, then answer);
- ``identifiers``: plus w x the share of the question's options, paths and identifiers in the sentence;
- ``procedure``: plus w for a sentence holding a command, an option or an instruction, on how-to questions;
- ``local idf coverage``: term coverage weighted by how few of the question's own candidates hold each term;
- ``prefix coverage``: term coverage with stems of four letters or more matched by prefix;
- ``new-word share`` and ``count``: plus w x what the sentence says beyond the question;
- ``top-k`` and ``windows``: answers of whole sentences: the top k, or the top k each with the sentence after
  it, scored by whether the answer holds a key fact, with their mean length in sentences.

Then the abstention side: the features of the on-topic questions the benchmark says are not covered and that
the assistant answers, beside the percentiles of the answerable questions it answers.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/evidence_options.py --data-dir /tmp/bench-data

Encoding every candidate sentence afresh takes most of its ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.benchmark import benchmark_assistants, find_collections  # noqa: E402
from assistant.evaluation import load_questions  # noqa: E402
from assistant.questions import content_stems  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

_HOW = re.compile(r"\bhow (do|can|should|would|could|shall|might|must|to)\b"
                  r"|\b(what|which) (command|option|setting|flag|key)\b", re.IGNORECASE)
_PROCEDURE = re.compile(r"(?<![\w-])--?[A-Za-z]|`|\$ |\b(use|using|run|set|specify|add|type|enter|select|click|press|"
                        r"install|call|pass|give|put|edit|invoke)\b|\byou (can|need|must|should|may)\b", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w-])(?:--?[A-Za-z][\w-]*|[\w.-]*[/\\@][\w./\\@{}-]+|\\[A-Za-z]+"
                         r"|[A-Za-z_]+\.[A-Za-z_.]+|[A-Z_]{2,}[A-Z0-9_]*|[a-z]+_[a-z_]+)")


@dataclass
class Row:
    """One answerable question's candidates, with everything the options read."""

    collection: str
    question: str
    labels: np.ndarray  # holds a key fact
    features: np.ndarray  # assistant/evidence.py FEATURES
    fresh: np.ndarray  # cosine of each sentence encoded on its own
    fresh_section: np.ndarray  # ... with its section heading in front
    idf_coverage: np.ndarray
    previous: np.ndarray  # index of the sentence before it among the candidates, or -1
    following: np.ndarray  # index of the sentence after it, or -1
    texts: list[str]
    stems: frozenset[str]  # the question's content stems (of its standalone form)

    @property
    def today(self) -> np.ndarray:
        return self.features[:, 0] + 0.3 * self.features[:, 1] + 0.05 * self.features[:, 2]


def collection_rows(bot: Assistant, name: str, questions) -> list[Row]:
    document_frequency, chunks = _document_frequency(bot)
    rows = []
    for q in questions:
        if q.abstain or not q.must:
            continue
        trace = bot.trace(q.question, q.history)
        ranked = trace.evidence.ranked
        if not ranked:
            continue
        texts = [e.text for e in ranked]
        query = bot.embedder.query_vector(trace.question.standalone)
        stems = set(trace.question.profile.stems)
        idf = {s: math.log((chunks + 1) / (document_frequency.get(s, 0) + 0.5)) for s in stems}
        total = sum(idf.values()) or 1.0
        previous, following = _neighbours([(e.chunk.id, e.start) for e in ranked])
        rows.append(Row(
            name, q.question, np.array([q.holds_a_key_fact(t) for t in texts]),
            np.array([e.features for e in ranked]), _cosines(bot, texts, query),
            _cosines(bot, [f"{e.chunk.section}\n{e.text}" for e in ranked], query),
            np.array([sum(idf[s] for s in stems & set(content_stems(t))) / total for t in texts]),
            previous, following, texts, frozenset(stems)))
    return rows


def _document_frequency(bot: Assistant) -> tuple[Counter, int]:
    chunks = bot.collection.keyword.get(bot.collection.keyword.all_ids())
    frequency: Counter = Counter()
    for chunk in chunks:
        frequency.update(set(content_stems(chunk.text)))
    return frequency, len(chunks)


def _cosines(bot: Assistant, texts: list[str], query: np.ndarray) -> np.ndarray:
    vectors = bot.embedder.encode(texts)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ query


def _neighbours(places: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    by_chunk: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, (chunk, start) in enumerate(places):
        by_chunk[chunk].append((start, i))
    previous, following = np.full(len(places), -1), np.full(len(places), -1)
    for line in by_chunk.values():
        line.sort()
        for (_, a), (_, b) in itertools.pairwise(line):
            following[a], previous[b] = b, a
    return previous, following


def _previous_boost(row: Row, weight: float) -> np.ndarray:
    score = row.today
    before = np.where(row.previous >= 0, score[np.maximum(row.previous, 0)], 0.0)
    return score + weight * np.clip(before, 0, None)


def _identifiers(row: Row) -> np.ndarray:
    wanted = {m.group(0).rstrip(".,?") for m in _IDENTIFIER.finditer(row.question)} - {""}
    if not wanted:
        return np.zeros(len(row.texts))
    return np.array([sum(bool(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", t)) for w in wanted) / len(wanted)
                     for t in row.texts])


def _procedure(row: Row) -> np.ndarray:
    asked = bool(_HOW.search(row.question))
    return np.array([float(asked and bool(_PROCEDURE.search(t))) for t in row.texts])


def _local_idf_coverage(row: Row) -> np.ndarray:
    """Term coverage weighted by how few of the question's own candidates hold each term: a word every candidate
    has ("uniq" on uniq's page) tells them apart no better than a stopword."""
    held = [set(content_stems(t)) for t in row.texts]
    weight = {s: math.log((len(held) + 1) / (sum(s in h for h in held) + 0.5)) for s in row.stems}
    total = sum(weight.values()) or 1.0
    return np.array([sum(weight[s] for s in row.stems & h) / total for h in held])


def _prefix_coverage(row: Row) -> np.ndarray:
    """Term coverage where stems of four letters or more match by prefix ("occur" / "occurr")."""
    def holds(wanted: str, held: set[str]) -> bool:
        return wanted in held or (len(wanted) >= 4 and any(
            len(h) >= 4 and (h.startswith(wanted) or wanted.startswith(h)) for h in held))
    held = [set(content_stems(t)) for t in row.texts]
    return np.array([sum(holds(s, h) for s in row.stems) / (len(row.stems) or 1) for h in held])


def _new_words(row: Row, share: bool) -> np.ndarray:
    """What the sentence says beyond the question: the share of its content stems the question lacks, or their
    count (at most 10, over 10)."""
    held = [set(content_stems(t)) for t in row.texts]
    if share:
        return np.array([len(h - row.stems) / len(h) if h else 0.0 for h in held])
    return np.array([min(len(h - row.stems), 10) / 10 for h in held])


RANKINGS: dict[str, Callable[[Row], np.ndarray]] = {
    "today": lambda r: r.today,
    "pooled cosine only": lambda r: r.features[:, 0],
    "fresh cosine only": lambda r: r.fresh,
    "fresh + hand-set": lambda r: r.fresh + 0.3 * r.features[:, 1] + 0.05 * r.features[:, 2],
    "fresh+section + hand-set": lambda r: r.fresh_section + 0.3 * r.features[:, 1] + 0.05 * r.features[:, 2],
    "mean(pooled, fresh) + hand-set": lambda r: (r.features[:, 0] + r.fresh) / 2 + 0.3 * r.features[:, 1]
    + 0.05 * r.features[:, 2],
    "idf coverage 0.3": lambda r: r.features[:, 0] + 0.3 * r.idf_coverage + 0.05 * r.features[:, 2],
    "idf coverage 0.5": lambda r: r.features[:, 0] + 0.5 * r.idf_coverage + 0.05 * r.features[:, 2],
    "previous 0.1": lambda r: _previous_boost(r, 0.1),
    "previous 0.2": lambda r: _previous_boost(r, 0.2),
    "identifiers 0.1": lambda r: r.today + 0.1 * _identifiers(r),
    "identifiers 0.2": lambda r: r.today + 0.2 * _identifiers(r),
    "procedure 0.05": lambda r: r.today + 0.05 * _procedure(r),
    "procedure 0.1": lambda r: r.today + 0.1 * _procedure(r),
    "local idf coverage 0.3": lambda r: r.features[:, 0] + 0.3 * _local_idf_coverage(r) + 0.05 * r.features[:, 2],
    "prefix coverage 0.3": lambda r: r.features[:, 0] + 0.3 * _prefix_coverage(r) + 0.05 * r.features[:, 2],
    "new-word share 0.05": lambda r: r.today + 0.05 * _new_words(r, share=True),
    "new-word share 0.1": lambda r: r.today + 0.1 * _new_words(r, share=True),
    "new-word count 0.05": lambda r: r.today + 0.05 * _new_words(r, share=False),
    "new-word count 0.1": lambda r: r.today + 0.1 * _new_words(r, share=False),
}


def abstention_features(bot: Assistant, name: str, questions) -> list[tuple[str, str, dict[str, float]]]:
    """(kind, id, features) of every question the assistant answers: "answerable" or the row's kind."""
    document_frequency, chunks = _document_frequency(bot)
    threshold = bot.thresholds.policy(bot.policy, bot.collection).min_evidence
    found = []
    for q in questions:
        trace = bot.trace(q.question, q.history)
        ranked = trace.evidence.ranked
        if trace.decision.abstained or not ranked:
            continue
        stems = set(trace.question.profile.stems)
        idf = {s: math.log((chunks + 1) / (document_frequency.get(s, 0) + 0.5)) for s in stems}
        held = {s for h in trace.retrieved.hits for s in content_stems(h.chunk.text)}
        found.append((q.kind if q.abstain else "answerable", f"{name} {q.id}", {
            "margin": max(e.dense for e in ranked) - threshold,  # best cosine over the collection's threshold
            "coverage": max(e.features[1] for e in ranked[:3]),  # the best top-3 sentence's share of terms
            "idf held": sum(idf[s] for s in stems & held) / (sum(idf.values()) or 1.0),  # ... in the hits
            "unknown terms": float(sum(document_frequency.get(s, 0) == 0 for s in stems)),
        }))
    return found


def first_key_fact(row: Row, scores: np.ndarray) -> int:
    return int(np.argmax(row.labels[np.argsort(-scores, kind="stable")]))


def answer_sets(row: Row, k: int, windows: bool) -> list[int]:
    order = list(np.argsort(-row.today, kind="stable")[:k])
    if windows:
        order += [int(row.following[i]) for i in order if row.following[i] >= 0]
    return sorted(set(order))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--benchmark", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    rows: dict[str, list[Row]] = {}
    answered: list[tuple[str, str, dict[str, float]]] = []
    for collection, bot in benchmark_assistants(find_collections(args.benchmark), Settings(data_dir=args.data_dir)):
        questions = load_questions(collection.questions)
        rows[collection.name] = collection_rows(bot, collection.name, questions)
        answered += abstention_features(bot, collection.name, questions)
        print(f"{collection.name}: {len(rows[collection.name])} questions with candidates", flush=True)
    names = list(rows)
    labelled = {n: [r for r in rows[n] if r.labels.any()] for n in names}
    print("\nWhere the first key-fact sentence ranks (first / top 3), questions whose candidates hold one:\n")
    print("| option | " + " | ".join(names) + " | all |")
    print("|---" * (len(names) + 2) + "|")
    for option, rank in RANKINGS.items():
        cells, everything = [], []
        for n in names:
            firsts = np.array([first_key_fact(r, rank(r)) for r in labelled[n]])
            everything.extend(firsts)
            cells.append(f"{np.mean(firsts == 0):.2f} / {np.mean(firsts < 3):.2f}")
        pooled = np.array(everything)
        print(f"| {option} | " + " | ".join(cells) + f" | {np.mean(pooled == 0):.2f} / {np.mean(pooled < 3):.2f} |")
    print("\nWhole-sentence answers: share holding a key fact (mean sentences), all answerable questions:\n")
    print("| answer | " + " | ".join(names) + " | all |")
    print("|---" * (len(names) + 2) + "|")
    for label, k, windows in [("top 1", 1, False), ("top 2", 2, False), ("top 3", 3, False), ("top 4", 4, False),
                              ("top 1 + next", 1, True), ("top 2 + next", 2, True)]:
        cells, hits, sizes = [], [], []
        for n in names:
            chosen = [answer_sets(r, k, windows) for r in rows[n]]
            held = [bool(r.labels[c].any()) for r, c in zip(rows[n], chosen, strict=True)]
            hits += held
            sizes += [len(c) for c in chosen]
            cells.append(f"{np.mean(held):.2f}")
        print(f"| {label} | " + " | ".join(cells) + f" | {np.mean(hits):.2f} ({np.mean(sizes):.1f}) |")
    _print_abstention(answered)


def _print_abstention(answered: list[tuple[str, str, dict[str, float]]]) -> None:
    keys = list(answered[0][2]) if answered else []
    print("\nQuestions not covered by the documents that are answered, beside the answerable ones answered:\n")
    print("| question | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for kind, name, features in answered:
        if kind == "not_covered":
            print(f"| {name} | " + " | ".join(f"{features[k]:.2f}" for k in keys) + " |")
    answerable = [f for kind, _, f in answered if kind == "answerable"]
    for pct in (5, 10, 25, 50):
        print(f"| answerable, {pct}th percentile | "
              + " | ".join(f"{np.percentile([f[k] for f in answerable], pct):.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
