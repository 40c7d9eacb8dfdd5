"""Check a benchmark collection's question set against its documents, without a model or a store.

Every ``evidence`` string must lie inside one chunk of the loaded documents (as ``assistant eval``
matches it: case, whitespace and quote style ignored); a ``page`` must be the page that chunk is on.
Usage: ``python benchmarks/check_questions.py benchmarks/<collection>`` (exit 1 on any problem).
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.benchmark import find_collections
from assistant.evaluation import load_questions, normalize
from ingest.chunking import chunk_document
from ingest.loaders import find_files, load


def collection_paths(folder: Path) -> list[Path]:
    """The document files of a collection: ``paths`` in its collection.toml, relative to the folder."""
    return find_files(find_collections(folder)[0].documents)


def _pages(chunk) -> set[int]:
    """The pages a chunk spans (empty for documents without pages)."""
    breaks = chunk.metadata.get("page_breaks", "")
    later = {int(item.split(":")[1]) for item in breaks.split(",") if item}
    return ({chunk.page} if chunk.page is not None else set()) | later


def problems(folder: Path) -> list[str]:
    chunks = [c for path in collection_paths(folder) for c in chunk_document(load(path))]
    texts = [(normalize(c.text), _pages(c)) for c in chunks]
    found = []
    for row in load_questions(folder / "questions.jsonl"):
        if row.abstain:
            continue
        if not row.evidence or not row.must:
            found.append(f"{row.id}: answerable but without evidence or must")
        for evidence in row.evidence:
            holders = [pages for text, pages in texts if normalize(evidence) in text]
            pages = set().union(*holders) if holders else set()
            if not holders:
                found.append(f"{row.id}: evidence not inside any one chunk: {evidence!r}")
            elif row.page is not None and row.page not in pages:
                found.append(f"{row.id}: evidence is on page(s) {sorted(pages)}, not {row.page}")
    return found


def main(argv: list[str], check=None) -> int:
    """Print every problem of each collection folder in ``argv`` (``check``: the function that finds them)."""
    failed = False
    for folder in map(Path, argv):
        for problem in (check or problems)(folder):
            failed = True
            print(f"{folder.name}: {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
