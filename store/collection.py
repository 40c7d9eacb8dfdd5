"""A collection keeps the dense index, the keyword index and the manifest in step.

Writes take a file lock, so two ingests on one data dir never interleave. The order of a write
(new chunks into both indexes, then the manifest, then stale chunks out) means a crash at any
point leaves a store that opens and that the same ingest, run again, brings to the same state.

Other processes may write to the same store (an ingest beside a running server, or app processes
on several machines sharing a ``chroma run`` server): ``follow_other_writers`` notices their
manifest saves and catches up, so readers answer from the new documents without a restart.
Readers take no lock, so a long ingest never holds up a question: Chroma is thread-safe and the
keyword index searches the index built before the search began.

Two storage modes, one constructor (``Collection(data_dir, embedder, chroma_url, ...)``, which picks the
mode with ``storage_for``): ``EmbeddedStorage`` keeps everything in the data dir, ``ServerStorage`` keeps
it on a ``chroma run`` server. The collection is also the ``SearchableStore`` (store/protocol.py) the
retriever and the answer builder read through.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from filelock import FileLock, Timeout

from ingest.records import Chunk, Document
from store.chroma_index import ChromaIndex, EmbeddingMismatchError, EncodedChunks, open_chroma_client
from store.embeddings import Embedder
from store.keyword_index import KeywordIndex
from store.manifest import ChromaManifest, Manifest, ManifestStore, SourceEntry
from store.records import Hit
from store.server_lock import LockTimeout, ServerWriteLock

log = logging.getLogger(__name__)


class StoreBusyError(RuntimeError):
    """Another process is writing to the same data dir."""


class PutStatus(StrEnum):
    """How a document compares with what the store holds for its source."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PutResult:
    source: str
    status: PutStatus
    chunks: int


def _manifest_ids(manifest: ManifestStore) -> set[str]:
    """The chunk ids the manifest says are stored."""
    return {cid for entry in manifest.load().values() for cid in entry.chunk_ids}


class StorageMode(Protocol):
    """Where a collection's Chroma collections, manifest and keyword rows live, and how it catches up."""

    where: str  # names the store in error messages

    def open_client(self) -> Any: ...

    def open_manifest(self, client: Any) -> ManifestStore: ...

    def open_keyword(self, manifest: ManifestStore, dense: ChromaIndex) -> KeywordIndex: ...

    def open_write_lock(self, client: Any) -> ServerWriteLock | None:
        """The lock writers on other machines take too; None where the data dir's file lock is enough."""
        ...

    def catch_up(self, manifest: ManifestStore, dense: ChromaIndex, keyword: KeywordIndex) -> ChromaIndex:
        """See what other processes wrote; returns the dense index to read from now on."""
        ...


class EmbeddedStorage:
    """Chroma, the keyword log and the manifest file in the data dir."""

    def __init__(self, data_dir: Path, prefix: str = "") -> None:
        self.data_dir, self.prefix = data_dir, prefix
        self.where = str(data_dir)

    def open_client(self, fresh: bool = False) -> Any:
        return open_chroma_client(self.data_dir / "chroma", fresh=fresh)

    def open_manifest(self, client: Any) -> ManifestStore:
        return Manifest(self.data_dir / "manifest.json")

    def open_keyword(self, manifest: ManifestStore, dense: ChromaIndex) -> KeywordIndex:
        return KeywordIndex(self.data_dir / "keyword")

    def open_write_lock(self, client: Any) -> None:
        return None  # everything is in the data dir, which the file lock guards

    def catch_up(self, manifest: ManifestStore, dense: ChromaIndex, keyword: KeywordIndex) -> ChromaIndex:
        """The keyword log reloads itself; the embedded vector index must be reopened."""
        return ChromaIndex(self.open_client(fresh=True), dense.embedder, prefix=self.prefix)


class ServerStorage:
    """A ``chroma run`` server holds the vectors, the chunk texts and the manifest; each process keeps its
    BM25 in memory, built from the chunk texts (nothing else to share or back up)."""

    def __init__(self, url: str, prefix: str = "") -> None:
        self.url, self.prefix = url, prefix
        self.where = f"{url} ({prefix or 'no prefix'})"

    def open_client(self) -> Any:
        return open_chroma_client(url=self.url)

    def open_manifest(self, client: Any) -> ManifestStore:
        return ChromaManifest(client, self.prefix + "manifest")

    def open_keyword(self, manifest: ManifestStore, dense: ChromaIndex) -> KeywordIndex:
        keyword = KeywordIndex(None)
        keyword.sync(_manifest_ids(manifest), dense.get)
        return keyword

    def open_write_lock(self, client: Any) -> ServerWriteLock:
        """Writers with other data dirs (other machines) share the server: the file lock does not reach them."""
        return ServerWriteLock(client, self.prefix + "writer")

    def catch_up(self, manifest: ManifestStore, dense: ChromaIndex, keyword: KeywordIndex) -> ChromaIndex:
        """The server's index is always current; the in-memory BM25 drops removed chunks and fetches new ones."""
        keyword.sync(_manifest_ids(manifest), dense.get)
        return dense


def storage_for(data_dir: Path, chroma_url: str | None = None, chroma_prefix: str = "") -> StorageMode:
    """The storage mode of a collection: on the ``chroma run`` server at ``chroma_url``, or in ``data_dir``."""
    return ServerStorage(chroma_url, chroma_prefix) if chroma_url else EmbeddedStorage(data_dir, chroma_prefix)


class Collection:
    def __init__(
        self, data_dir: Path, embedder: Embedder, chroma_url: str | None = None, lock_timeout: float = 10.0,
        chroma_prefix: str = "",
    ) -> None:
        """Embedded: Chroma, keyword log and manifest in ``data_dir``. With ``chroma_url`` the server
        holds the vectors, the chunk texts and the manifest (``storage_for``). The write lock stays in
        ``data_dir`` in both modes."""
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.chroma_url = chroma_url
        self.chroma_prefix = chroma_prefix
        self.storage = storage_for(data_dir, chroma_url, chroma_prefix)
        client = self.storage.open_client()
        try:
            self.dense = ChromaIndex(client, embedder, prefix=chroma_prefix)
        except EmbeddingMismatchError as exc:  # say which store
            raise EmbeddingMismatchError(exc.stored, exc.wanted, self.storage.where) from None
        self.manifest = self.storage.open_manifest(client)
        self._server_lock = self.storage.open_write_lock(client)
        self._server_depth = 0  # writing() nests (repair marks sources changed): the lease is taken once
        self._seen = self.manifest.stamp()  # before the keyword rows: a save made meanwhile is caught up later
        self.checked_at = time.time()  # when this process last compared its view with the store
        self.keyword = self.storage.open_keyword(self.manifest, self.dense)
        self._lock = FileLock(str(data_dir / ".write.lock"))
        self._local = threading.RLock()  # this process's writers, one at a time; no catching up mid-write
        self.lock_timeout = lock_timeout

    # SearchableStore (store/protocol.py): what the retriever and the answer builder read
    def search_chunks(self, query: str, k: int) -> list[Hit]:
        return self._resolved(self.dense.nearest_chunks(query, k))

    def search_sentences(self, query: str, k: int) -> list[Hit]:
        return self._resolved(self.dense.best_sentence_chunks(query, k))

    def _resolved(self, scored: list[tuple[str, float]]) -> list[Hit]:
        """Hits of (chunk id, score) pairs, best first; a chunk not readable yet (being written) is left out."""
        scores = dict(scored)
        return [Hit(c, scores[c.id], rank) for rank, c in enumerate(self.get(list(scores)), start=1)]

    def search_keywords(self, query: str, k: int) -> list[Hit]:
        return self.keyword.search(query, k)

    def vocabulary(self) -> Mapping[str, int]:
        return self.keyword.vocabulary()

    def find_text(self, pattern: re.Pattern[str], limit: int) -> list[str]:
        return self.keyword.find_text(pattern, limit)

    def best_sentence_scores(self, queries: Sequence[str]) -> list[float]:
        return self.dense.best_sentence_scores(queries)

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        return self.dense.sentence_vectors(chunks)

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """From the keyword index's copy of the chunks (in memory: no Chroma call per question), and from
        Chroma for any it does not hold yet (a chunk another process is writing)."""
        found = {c.id: c for c in self.keyword.get(ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            found.update((c.id, c) for c in self.dense.get(missing))
        return [found[i] for i in ids if i in found]

    def stored_copies(self, ids: Sequence[str]) -> list[Chunk]:
        """Every stored copy of these chunks, the Chroma record's and the keyword index's: a check that what
        is cited still matches the source (``assistant doctor``) must see both, as answers may quote either."""
        return [*self.dense.get(ids), *self.keyword.get(ids)]

    def follow_other_writers(self) -> bool:
        """Catch up with what other processes wrote since we last looked; True if they wrote.

        Cheap when nothing changed (a stat, or one small get from the Chroma server).
        """
        self.checked_at = time.time()
        stamp = self.manifest.stamp()
        if stamp in (self._seen, self.manifest.saved_stamp):  # nothing new, or our own last save
            self._seen = stamp
            return False
        with self._local:
            stamp = self.manifest.stamp()
            if stamp in (self._seen, self.manifest.saved_stamp):
                self._seen = stamp
                return False
            self.dense = self.storage.catch_up(self.manifest, self.dense, self.keyword)
            self._seen = stamp
        log.info("caught up with another process's writes to the store")
        return True

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock; raises StoreBusyError if another process holds it past the timeout."""
        self._take(self._lock.acquire, Timeout, str(self.data_dir))
        try:
            with self._local, self._held_on_server():
                self.follow_other_writers()  # write on top of the current store, not a stale view
                self._finish_pending_deletes()
                yield
        finally:
            self._lock.release()

    @contextmanager
    def _held_on_server(self) -> Iterator[None]:
        """The server's write lease (server mode), taken by the outermost ``writing`` of this process."""
        lease = self._server_lock if not self._server_depth else None
        if lease:
            self._take(lease.acquire, LockTimeout, self.storage.where)
        self._server_depth += 1
        try:
            yield
        finally:
            self._server_depth -= 1
            if lease:
                lease.release()

    def _take(self, acquire: Callable[..., object], timed_out: type[Exception], where: str) -> None:
        try:
            acquire(timeout=self.lock_timeout)
        except timed_out as exc:
            held = f" ({exc})" if isinstance(exc, LockTimeout) else ""  # the lease names its holder
            raise StoreBusyError(
                f"another process is writing to {where}{held} (ingest or remove); try again when it ends"
            ) from exc

    def _finish_pending_deletes(self) -> None:
        pending = self.manifest.pending_deletes()
        if pending:
            log.info("finishing %d chunk deletions an earlier write left undone", len(pending))
            self._delete_chunks(pending)
            self.manifest.save(self.manifest.load())

    def encode(self, documents: Sequence[tuple[Document, list[Chunk]]]) -> EncodedChunks:
        """The vectors ``put`` would compute for these documents' chunks, without the write lock and
        writing nothing: an ingest encodes one batch while the one before is written."""
        return self.dense.encode([c for _, chunks in documents for c in chunks])

    def put(
        self, documents: Sequence[tuple[Document, list[Chunk]]], chunking: str = "",
        encoded: EncodedChunks | None = None,
    ) -> list[PutResult]:
        """Store new or changed documents; one encoder pass for all their new chunks, none for those in
        ``encoded`` (from ``encode``).

        ``chunking`` names the settings the chunks were cut with (a file cut differently is "updated").
        """
        with self.writing():
            entries = self.manifest.load()
            todo, results = [], []
            for doc, chunks in documents:
                if self.status_in(entries, doc, chunking) is PutStatus.UNCHANGED:
                    results.append(PutResult(doc.source, PutStatus.UNCHANGED, len(chunks)))
                else:
                    todo.append((doc, chunks))
            all_new = [c for _, chunks in todo for c in chunks]
            self.dense.add(all_new, encoded)  # embeds only the chunks Chroma lacks and encoded has not
            self.keyword.add(all_new)
            stale: list[str] = []
            for doc, chunks in todo:
                status = self.status_in(entries, doc, chunking)
                old = entries.get(doc.source)
                ids = tuple(c.id for c in chunks)
                entries[doc.source] = SourceEntry(
                    doc.source, doc.title, doc.content_hash, ids, _now(), chunking,
                    kind=Path(doc.source).suffix.lower(), pages=len(doc.page_starts) or None,
                    sections=len({c.section for c in chunks}), warnings=doc.warnings,
                )
                if old:
                    stale.extend(set(old.chunk_ids) - set(ids))
                results.append(PutResult(doc.source, status, len(chunks)))
            self._commit(entries, stale)
        return results

    def remove(self, sources: Sequence[str]) -> list[str]:
        """Remove sources (exact source, or a unique file name); returns the removed sources."""
        with self.writing():
            entries = self.manifest.load()
            removed = [s for s in sources if s in entries]
            ids = [cid for s in removed for cid in entries.pop(s).chunk_ids]
            if removed:
                self._commit(entries, ids)
        return removed

    def _commit(self, entries: dict[str, SourceEntry], stale: list[str]) -> None:
        """Manifest first, with the deletions it still owes; a crash before they finish is resumed."""
        self.manifest.save(entries, pending_deletes=stale)
        if stale:
            self._delete_chunks(stale)
            self.manifest.save(entries)

    def mark_changed(self, sources: Sequence[str]) -> None:
        """Forget the content hash of these sources, so the next ingest re-reads and re-chunks them."""
        with self.writing():
            entries = self.manifest.load()
            for source in sources:
                if source in entries:
                    entries[source] = replace(entries[source], content_hash="")
            self.manifest.save(entries)

    def resolve_source(self, name: str) -> str | None:
        """A stored source by its full path, or by a file name that matches exactly one source."""
        entries = self.manifest.load()
        if name in entries:
            return name
        try:
            resolved = str(Path(name).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):  # "~nosuchuser", a NUL byte, a symlink loop: not a path
            resolved = None
        if resolved in entries:  # the relative path it was ingested by
            return resolved
        matches = [s for s in entries if Path(s).name == name]
        return matches[0] if len(matches) == 1 else None

    def sources(self) -> list[SourceEntry]:
        return sorted(self.manifest.load().values(), key=lambda e: e.source)

    def count(self) -> int:
        return self.dense.count()

    def _delete_chunks(self, ids: Sequence[str]) -> None:
        self.dense.delete(ids)
        self.keyword.delete(ids)
        if self.keyword.log_is_bloated():
            self.keyword.compact()

    @staticmethod
    def status_in(entries: dict[str, SourceEntry], doc: Document, chunking: str = "") -> PutStatus:
        """How ``doc`` compares with the manifest ``entries``."""
        entry = entries.get(doc.source)
        if entry is None:
            return PutStatus.ADDED
        same = entry.content_hash == doc.content_hash and entry.chunking == chunking
        return PutStatus.UNCHANGED if same else PutStatus.UPDATED


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
