"""Check a collection's verification set (``verification.jsonl``) against its documents, without a model.

Each row is one generated sentence, faithful or wrong in a named way, with the passages it cites given
as ``cites``: strings that must each lie inside one chunk of the loaded documents (matched as
``assistant eval`` matches evidence: case, whitespace and quote style ignored). ``[k]`` in the sentence
refers to ``cites[k-1]``. A ``wrong_citation`` row also names, in ``supported_by``, the passage that
does hold its fact. Usage: ``python benchmarks/check_verification.py benchmarks/<collection>``.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from check_questions import collection_paths, main

from assistant.evaluation import normalize
from assistant.verification_set import CLAIMS_FILE, FAITHFUL_KINDS, WRONG_KINDS, load_claims
from ingest.chunking import chunk_document
from ingest.loaders import load

MIN_PER_KIND = 2  # verification-holdout.jsonl: one of each


def problems(folder: Path, claims_file: str = CLAIMS_FILE, min_per_kind: int = MIN_PER_KIND) -> list[str]:
    texts = [normalize(c.text) for path in collection_paths(folder) for c in chunk_document(load(path))]
    rows = load_claims(folder / claims_file)
    found = []
    for row in rows:
        for needle in [*row.cites, *row.supported_by]:
            if not any(normalize(needle) in text for text in texts):
                found.append(f"{row.id}: cited text not inside any one chunk: {needle!r}")
        if _holders(row.cites, texts) & _holders(row.supported_by, texts):  # [k] names a passage, not a sentence
            found.append(f"{row.id}: the cited passage holds the fact too (cite a passage of another chunk)")
    counts = Counter(row.kind for row in rows)
    found += [f"only {counts[kind]} rows of kind {kind}" for kind in (*FAITHFUL_KINDS, *WRONG_KINDS)
              if counts[kind] < min_per_kind]
    return found


def _holders(needles: list[str], texts: list[str]) -> set[int]:
    return {i for needle in needles for i, text in enumerate(texts) if normalize(needle) in text}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], problems))
