"""Ingest files into a collection: load, chunk, embed in batches, report what changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.budget import LoadBudget, load_within
from ingest.chunking import ChunkingConfig, chunk_document
from ingest.loaders import IngestError, find_files
from ingest.records import Chunk, Document
from store.chroma_index import EncodedChunks
from store.collection import Collection, PutResult, PutStatus

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
    """Ingest ``(file, source)`` pairs: the file is read, the source (default: its path) is what is stored.

    Loading and chunking, encoding and writing run on three threads, each on its own batch (``_BatchWriter``):
    the encoder and Chroma release the GIL, so sentence splitting and the Chroma writes no longer wait for
    the encoder (bench/ingest_bench.py). Batches are written one at a time and in order.
    """
    started = time.perf_counter()
    report = IngestReport()
    batch: list[tuple[Document, list[Chunk]]] = []
    stored = collection.manifest.load()  # once: per-file loads would make big ingests quadratic
    signature = chunking.signature
    with _BatchWriter(collection, signature, report) as writer:
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
                writer.submit(batch)
                batch = []
        writer.submit(batch)
    if progress:
        progress(len(files), len(files), "")
    report.seconds = time.perf_counter() - started
    return report


class IngestStopped(RuntimeError):
    """A batch not written because one before it failed (that failure is the one reported)."""


class _BatchWriter:
    """A three-stage pipeline: while the caller loads and chunks batch n+1, one worker thread encodes
    batch n (``collection.encode``, no lock) and another writes batch n-1 (``collection.put`` with those
    vectors, under the write lock). Results are counted on the caller's thread.

    Batches are written one at a time and in order. ``submit`` waits until at most one batch is in flight
    besides the one it submits, so a failure surfaces at a later submit or on leaving the block, in the
    caller's thread; leaving the block always waits for every batch, so no write is left running when
    ingest returns or raises.
    """

    def __init__(self, collection: Collection, signature: str, report: IngestReport) -> None:
        self.collection, self.signature, self.report = collection, signature, report
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-encode")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-put")
        self._pending: list[Future[list[PutResult]]] = []
        self._stopped = threading.Event()  # set once a batch failed or the caller raised: write no more

    def __enter__(self) -> _BatchWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.wait(keep=0)
        finally:
            # after a failure, batches not yet started are dropped, not encoded for nothing
            # (after a clean wait nothing is left to stop)
            self._stopped.set()
            self._encoder.shutdown(wait=True, cancel_futures=True)
            self._writer.shutdown(wait=True, cancel_futures=True)

    def submit(self, batch: list[tuple[Document, list[Chunk]]]) -> None:
        self.wait(keep=1)
        if batch:
            encoding = self._encoder.submit(self.collection.encode, batch)
            self._pending.append(self._writer.submit(self._put, batch, encoding))

    def _put(self, batch: list[tuple[Document, list[Chunk]]], encoding: Future[EncodedChunks]) -> list[PutResult]:
        if self._stopped.is_set():
            raise IngestStopped("an earlier batch failed")
        try:
            return self.collection.put(batch, self.signature, encoded=encoding.result())
        except BaseException:
            self._stopped.set()
            raise

    def wait(self, keep: int = 0) -> None:
        """Count the oldest batches' results until at most ``keep`` are in flight."""
        while len(self._pending) > keep:
            _count(self._pending.pop(0).result(), self.report)


def _count(results: Sequence[PutResult], report: IngestReport) -> None:
    for result in results:
        {PutStatus.ADDED: report.added, PutStatus.UPDATED: report.updated,
         PutStatus.UNCHANGED: report.unchanged}[result.status].append(result.source)
        if result.status is not PutStatus.UNCHANGED:
            report.chunks += result.chunks


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
