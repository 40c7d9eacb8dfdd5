"""Ingest files into a collection: load, chunk, embed in batches, report what changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.budget import LoadBudget, load_within
from ingest.chunking import ChunkingConfig, chunk_document
from ingest.loaders import IngestError, find_files
from ingest.records import Chunk, Document
from store.collection import Collection, PutStatus

log = logging.getLogger(__name__)
BATCH_CHUNKS = 256  # new chunks embedded together: large enough to keep the encoder busy


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    chunks: int = 0  # chunks of the added and updated files
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed; {self.chunks} chunks in {self.seconds:.1f} s"
        )


ProgressCallback = Callable[[int, int, str], None]  # (files done, files total, current file)


def ingest_paths(
    collection: Collection,
    paths: Iterable[str | Path],
    chunking: ChunkingConfig,
    max_bytes: int,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    budget: LoadBudget | None = None,
) -> IngestReport:
    """Ingest files and folders. Unknown paths raise IngestError before anything is written."""
    paths = list(paths)
    files = [(path, None) for path in find_files(paths)]
    report = ingest_files(collection, files, chunking, max_bytes, progress=progress, budget=budget)
    if prune:
        report.removed = prune_missing(collection, paths)
    return report


def ingest_files(
    collection: Collection,
    files: Sequence[tuple[Path, str | None]],
    chunking: ChunkingConfig,
    max_bytes: int,
    progress: ProgressCallback | None = None,
    budget: LoadBudget | None = None,
) -> IngestReport:
    """Ingest ``(file, source)`` pairs: the file is read, the source (default: its path) is what is stored."""
    started = time.perf_counter()
    report = IngestReport()
    batch: list[tuple[Document, list[Chunk]]] = []
    stored = collection.manifest.load()  # once: per-file loads would make big ingests quadratic
    signature = f"{chunking.chunk_size}/{chunking.overlap}"
    for done, (path, source) in enumerate(files, start=1):
        if progress:
            progress(done - 1, len(files), Path(source or path).name)
        try:
            doc = load_within(path, max_bytes, source=source, budget=budget)
        except IngestError as exc:
            log.warning("%s", exc)
            report.failed.append((source or str(path), str(exc)))
            continue
        if collection.status_in(stored, doc, signature) is PutStatus.UNCHANGED:
            report.unchanged.append(doc.source)
            continue
        batch.append((doc, chunk_document(doc, chunking)))
        if sum(len(chunks) for _, chunks in batch) >= BATCH_CHUNKS:
            _flush(collection, batch, report, signature)
    _flush(collection, batch, report, signature)
    if progress:
        progress(len(files), len(files), "")
    report.seconds = time.perf_counter() - started
    return report


def _flush(
    collection: Collection, batch: list[tuple[Document, list[Chunk]]], report: IngestReport, signature: str
) -> None:
    if not batch:
        return
    for result in collection.put(batch, signature):
        {PutStatus.ADDED: report.added, PutStatus.UPDATED: report.updated,
         PutStatus.UNCHANGED: report.unchanged}[result.status].append(
            result.source
        )
        if result.status is not PutStatus.UNCHANGED:
            report.chunks += result.chunks
    batch.clear()


def prune_missing(collection: Collection, paths: Sequence[str | Path]) -> list[str]:
    """Remove stored sources under ``paths`` whose files no longer exist."""
    roots = [Path(p).expanduser().resolve() for p in paths]
    gone = [
        entry.source
        for entry in collection.sources()
        if not Path(entry.source).exists() and any(_is_under(Path(entry.source), root) for root in roots)
    ]
    return collection.remove(gone) if gone else []


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
