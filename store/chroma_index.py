"""Dense index: a Chroma collection of chunk vectors plus one of sentence vectors.

We always pass our own vectors (Chroma's default embedding function would download a model)
and keep Chroma's telemetry off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.records import Chunk
from store.embeddings import Embedder, family_of
from store.records import Hit
from store.serialize import chunk_from_metadata, chunk_metadata

log = logging.getLogger(__name__)

CHUNKS = "chunks"
SENTENCES = "sentences"


# The embedding backend (store/embeddings.py BACKENDS) whose vectors a collection holds, in its Chroma metadata,
# set when the collection is created. Collections made before it was recorded hold torch vectors.
BACKEND_KEY = "embedding_backend"
LEGACY_BACKEND = "torch"

# How many candidates Chroma's HNSW search visits (its ``ef_search``; Chroma's default is 100). At 100 a search
# for the 60 nearest sentences missed 1-3% of the true 60 on the benchmark's stores, and which ones it missed
# changed from one process to the next (Chroma rebuilds the part of the graph written since its last save in
# parallel on opening), so one question got different answers from two runs on one store. At 400 it misses
# 0.02-0.4% and answers repeat; a query costs about 1 ms more (docs/bench.md, bench/search_recall.py).
SEARCH_EF = 400


class StoreUnavailableError(RuntimeError):
    """The vector store cannot be opened or reached."""


class EmbeddingMismatchError(StoreUnavailableError):
    """The store holds vectors of another family of embedding backends than the one in use (torch and onnx
    are one family, onnx-int8 another): they must not be mixed."""

    def __init__(self, stored: str, wanted: str, where: str = "") -> None:
        self.stored, self.wanted = stored, wanted
        place = f"the store {where}" if where else "the store"
        super().__init__(
            f"{place} was embedded with the {stored!r} embedding backend, not {wanted!r} "
            f"(ASSISTANT_EMBEDDING_BACKEND); their vectors must not be mixed. Open it with "
            f"ASSISTANT_EMBEDDING_BACKEND={stored}, or move it to {wanted!r} in a new data dir: "
            f"`ASSISTANT_EMBEDDING_BACKEND={stored} assistant export backup.jsonl.gz`, then "
            f"`ASSISTANT_EMBEDDING_BACKEND={wanted} assistant import backup.jsonl.gz --data-dir NEW_DIR` "
            f"(import re-embeds every chunk), or ingest the documents again there"
        )


def open_chroma_client(path: Path | None = None, url: str | None = None, fresh: bool = False):
    """A persistent client on ``path``, or an HTTP client for a ``chroma run`` server at ``url``.

    ``fresh`` opens ``path`` anew instead of reusing this process's client: an embedded client's
    vector index does not see what another process wrote since it was opened (counts and gets do).
    """
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    if fresh and path is not None:  # clients already open keep working on the old one for a while
        _retire(SharedSystemClient._identifier_to_system.pop(str(path), None))

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if url:
            from urllib.parse import urlparse

            parts = urlparse(url)
            return chromadb.HttpClient(
                host=parts.hostname or "127.0.0.1", port=parts.port or 8000,
                ssl=parts.scheme == "https", settings=settings,
            )
        assert path is not None
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        raise StoreUnavailableError(f"cannot open the Chroma store at {url or path}: {exc}") from exc


_retired: list[tuple[float, object]] = []
RETIRE_AFTER_S = 120.0  # far longer than any request that may still use an old client


def _retire(system) -> None:
    """Stop the systems replaced long ago (their memory), keep the newly replaced one a while."""
    import time

    now = time.monotonic()
    while _retired and now - _retired[0][0] > RETIRE_AFTER_S:
        _, old = _retired.pop(0)
        try:
            old.stop()  # type: ignore[attr-defined]
        except Exception:  # a failing stop of an unused system must not fail the caller
            log.warning("stopping a replaced Chroma client failed", exc_info=True)
    if system is not None:
        _retired.append((now, system))


def sentence_id(chunk_id: str, index: int) -> str:
    """The id of a chunk's ``index``-th sentence vector; ``chunk_of_sentence`` reads the chunk back."""
    return f"{chunk_id}:{index}"


def chunk_of_sentence(sentence_id: str) -> str:
    return sentence_id.rsplit(":", 1)[0]


def embedding_input(chunk: Chunk) -> tuple[str, list[tuple[int, int]]]:
    """What the encoder sees: the section heading, then the chunk, with sentence spans shifted."""
    prefix = f"{chunk.section}\n" if chunk.section else ""
    shift = len(prefix) - chunk.start
    return prefix + chunk.text, [(s + shift, e + shift) for s, e in chunk.sentences]


def _search_wide(collection) -> None:
    """Set the collection's ``ef_search`` to ``SEARCH_EF`` where it is lower (collections made before it, or by
    Chroma's defaults); the setting is stored with the collection, so this writes once."""
    try:
        hnsw = (collection.configuration or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or 0) < SEARCH_EF:
            collection.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})
    except Exception as exc:  # a store we may not write to (a read-only server token): search as Chroma does
        log.warning("could not widen the search of Chroma collection %s to ef_search %d: %s",
                    collection.name, SEARCH_EF, exc)


@dataclass(frozen=True, slots=True)
class EncodedChunks:
    """Chunks with their vectors, not yet stored: row ``i`` of ``vectors`` and ``sentence_vectors[i]``
    belong to ``chunks[i]``."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_vectors: list[np.ndarray]


class ChromaIndex:
    """Chunk vectors for search, sentence vectors for evidence selection."""

    def __init__(self, client, embedder: Embedder, prefix: str = "") -> None:
        """Raises EmbeddingMismatchError if the collections hold another embedding backend's vectors."""
        self.embedder = embedder
        backend = embedder.backend
        # get_or_create keeps an existing collection's metadata: the backend is the one it was created with
        space = {"hnsw:space": "cosine", BACKEND_KEY: backend}
        self.chunks = client.get_or_create_collection(prefix + CHUNKS, metadata=space, embedding_function=None)
        self.sentences = client.get_or_create_collection(
            prefix + SENTENCES, metadata=space, embedding_function=None
        )
        for collection in (self.chunks, self.sentences):
            stored = (collection.metadata or {}).get(BACKEND_KEY, LEGACY_BACKEND)
            if family_of(str(stored)) != family_of(backend):  # torch and onnx share vectors: one family
                raise EmbeddingMismatchError(str(stored), backend)
            _search_wide(collection)
        self.batch_size = min(int(client.get_max_batch_size()), 2000)

    def add(self, chunks: Sequence[Chunk], encoded: EncodedChunks | None = None) -> None:
        """Store the chunks Chroma lacks; vectors found in ``encoded`` (see ``encode``) are not computed again."""
        new = self._missing(chunks)
        if not new:
            return
        ready = {c.id: i for i, c in enumerate(encoded.chunks)} if encoded else {}
        rows = [ready[c.id] for c in new if c.id in ready]
        if encoded and rows:
            chosen = [encoded.chunks[r] for r in rows]
            self.add_vectors(chosen, encoded.vectors[rows], [encoded.sentence_vectors[r] for r in rows])
        rest = self.encode([c for c in new if c.id not in ready], check_stored=False)
        if rest.chunks:
            self.add_vectors(rest.chunks, rest.vectors, rest.sentence_vectors)

    def encode(self, chunks: Sequence[Chunk], check_stored: bool = True) -> EncodedChunks:
        """The vectors of the chunks (by default only of those Chroma lacks), writing nothing: the encoder
        pass can run while another batch is written (assistant/ingestion.py)."""
        todo = self._missing(chunks) if check_stored else list(chunks)
        if not todo:
            return EncodedChunks([], np.zeros((0, self.embedder.dimension), np.float32), [])
        inputs = [embedding_input(c) for c in todo]
        vectors, sentence_vectors = self.embedder.encode_with_spans(
            [text for text, _ in inputs], [spans for _, spans in inputs]
        )
        return EncodedChunks(todo, vectors, sentence_vectors)

    def add_vectors(self, chunks: Sequence[Chunk], vectors: np.ndarray, sentence_vectors: list[np.ndarray]):
        """Write precomputed vectors: sentences first, so a stored chunk always has its sentences."""
        # no metadata: a sentence's id names its chunk (``sentence_id``), so there is nothing to store beside it
        sent_ids = [sentence_id(chunk.id, i) for chunk, vecs in zip(chunks, sentence_vectors, strict=True)
                    for i in range(len(vecs))]
        sent_vecs = [vec for vecs in sentence_vectors for vec in vecs]
        for lo in range(0, len(sent_ids), self.batch_size):
            hi = lo + self.batch_size
            self.sentences.upsert(ids=sent_ids[lo:hi], embeddings=np.asarray(sent_vecs[lo:hi]))
        for lo in range(0, len(chunks), self.batch_size):
            part = chunks[lo : lo + self.batch_size]
            self.chunks.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[lo : lo + self.batch_size],
                documents=[c.text for c in part],
                metadatas=[chunk_metadata(c) for c in part],
            )

    def _missing(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        unique = list({c.id: c for c in chunks}.values())
        stored = set(self.existing_ids([c.id for c in unique]))
        return [c for c in unique if c.id not in stored]

    def existing_ids(self, ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for part in _batches(list(ids), self.batch_size):
            found.extend(self.chunks.get(ids=part, include=[])["ids"])
        return found

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_vector(self.embedder.query_vector(query), k)

    def search_vector(self, vector: np.ndarray, k: int) -> list[Hit]:
        if k <= 0:
            return []
        # no count() first: it costs as much as the query, and Chroma returns fewer when it has fewer
        result = self.chunks.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        columns = (result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        # a record another process is writing can come back without its metadata or text yet: not a hit yet
        rows = [row for row in zip(*columns, strict=True) if row[2] and row[1] is not None]
        return [
            Hit(chunk_from_metadata(cid, doc, meta), 1.0 - float(dist), rank)
            for rank, (cid, doc, meta, dist) in enumerate(rows, start=1)
        ]

    def nearest_chunks(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the ``k`` chunks whose vectors come closest, best first: ids only (see
        ``best_sentence_chunks``)."""
        if k <= 0:
            return []
        result = self.chunks.query(
            query_embeddings=[self.embedder.query_vector(query)], n_results=k, include=["distances"]
        )
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(result["ids"][0], result["distances"][0], strict=True)]

    def best_sentence_chunks(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, its best sentence's cosine) of the ``k`` chunks whose sentences come closest, best
        first: finds a fact that a chunk vector dilutes. Ids only: Collection resolves them from the chunk
        copy it holds, with no second Chroma call."""
        if k <= 0:
            return []
        result = self.sentences.query(
            query_embeddings=[self.embedder.query_vector(query)], n_results=3 * k, include=["distances"]
        )
        best: dict[str, float] = {}
        for sid, dist in zip(result["ids"][0], result["distances"][0], strict=True):
            best.setdefault(chunk_of_sentence(sid), 1.0 - float(dist))  # results come best first
        return list(best.items())[:k]

    def best_sentence_scores(self, queries: Sequence[str]) -> list[float]:
        """For each query, the cosine similarity of the stored sentence closest to it (0.0 when none is)."""
        if not queries or not self.sentences.count():
            return [0.0] * len(queries)
        vectors = [self.embedder.query_vector(q) for q in queries]
        result = self.sentences.query(query_embeddings=vectors, n_results=1, include=["distances"])
        return [1.0 - float(d[0]) if d else 0.0 for d in result["distances"]]

    def count(self) -> int:
        return int(self.chunks.count())

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        chunks = self.get(ids)
        for part in _batches([c.id for c in chunks], self.batch_size):
            self.chunks.delete(ids=part)
        sentence_ids = [sentence_id(c.id, i) for c in chunks for i in range(len(c.sentences))]
        for part in _batches(sentence_ids, self.batch_size):
            self.sentences.delete(ids=part)

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        found: dict[str, Chunk] = {}
        for part in _batches(list(ids), self.batch_size):
            result = self.chunks.get(ids=part, include=["documents", "metadatas"])
            for cid, doc, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                if meta and doc is not None:  # (see search_vector: a record still being written)
                    found[cid] = chunk_from_metadata(cid, doc, meta)
        return [found[i] for i in ids if i in found]

    def all_ids(self) -> list[str]:
        return list(self.chunks.get(include=[])["ids"])

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """chunk id -> (n_sentences, dim) matrix, for the chunks whose sentence vectors are stored."""
        wanted = [sentence_id(c.id, i) for c in chunks for i in range(len(c.sentences))]
        if not wanted:
            return {}
        result = self.sentences.get(ids=wanted, include=["embeddings"])
        by_id = dict(zip(result["ids"], result["embeddings"], strict=True))
        matrices = {}
        for chunk in chunks:
            rows = [by_id.get(sentence_id(chunk.id, i)) for i in range(len(chunk.sentences))]
            if rows and all(r is not None for r in rows):
                matrices[chunk.id] = np.asarray(rows, dtype=np.float32)
        return matrices


def _batches(items: list, size: int) -> Iterator[list]:
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]
