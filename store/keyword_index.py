"""Keyword index: BM25 (bm25s) over the same chunk ids as the dense index.

The chunk rows live in an append-only JSONL log (adds and deletes) in the data dir; the BM25
matrix is rebuilt in memory when the rows changed, including when another process (an ingest
beside a running server) appended to the log. Without a folder the index lives in memory only:
with a shared Chroma server, the chunk texts Chroma holds are the rows, copied in by ``sync``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ingest.records import Chunk
from store.records import Hit
from store.serialize import chunk_from_row, chunk_to_row

log = logging.getLogger(__name__)
_WORD = re.compile(r"[a-z]+")


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def keyword_tokens(texts: list[str], return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=return_ids
    )


class KeywordIndex:
    """Thread-safe: writes and reloads hold a lock; a search runs on the index built before it started."""

    def __init__(self, folder: Path | None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "chunks.jsonl" if folder is not None else None
        self._rows: dict[str, Chunk] = {}
        self._seen: object = -1
        self._built: tuple[object, list[Chunk]] | None = None  # (bm25s retriever, its chunks in index order)
        self._words: Counter[str] | None = None  # vocabulary(), built on first use after a change
        self._lock = threading.RLock()
        self._refresh()

    # ChunkIndex protocol
    def add(self, chunks: Sequence[Chunk]) -> None:
        with self._lock:
            self._refresh()
            new = [c for c in {c.id: c for c in chunks}.values() if c.id not in self._rows]
            if new:
                self._append([{"op": "add", **chunk_to_row(c)} for c in new])
                self._rows.update((c.id, c) for c in new)
                self._built = self._words = None

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._refresh()
            gone = [i for i in dict.fromkeys(ids) if i in self._rows]
            if gone:
                self._append([{"op": "del", "id": i} for i in gone])
                for i in gone:
                    del self._rows[i]
                self._built = self._words = None

    def count(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._rows)

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        with self._lock:
            self._refresh()
            return [self._rows[i] for i in ids if i in self._rows]

    def search(self, query: str, k: int) -> list[Hit]:
        if k <= 0:
            return []
        with self._lock:
            self._refresh()
            if not self._rows:
                return []
            retriever, chunks = self._index()
        query_tokens = keyword_tokens([query], return_ids=False)
        if not query_tokens[0]:
            return []
        docs, scores = retriever.retrieve(  # type: ignore[attr-defined]
            query_tokens, k=min(k, len(chunks)), show_progress=False, n_threads=1
        )
        hits = []
        for doc_index, score in zip(docs[0], scores[0], strict=True):
            if score <= 0:
                break
            hits.append(Hit(chunks[int(doc_index)], float(score), len(hits) + 1))
        return hits

    def vocabulary(self) -> Mapping[str, int]:
        """Each lower-case word of the chunks (letters only) and how many chunks hold it: what a misspelled
        question word is corrected against (assistant/spelling.py). Built once per change, like the index."""
        with self._lock:
            self._refresh()
            if self._words is None:
                counts: Counter[str] = Counter()
                for chunk in self._rows.values():
                    counts.update(set(_WORD.findall(f"{chunk.title}\n{chunk.section}\n{chunk.text}".lower())))
                self._words = counts
            return self._words

    def find_text(self, pattern: re.Pattern[str], limit: int) -> list[str]:
        """Up to ``limit`` matches of ``pattern`` in the chunk texts, in storage order."""
        with self._lock:
            self._refresh()
            rows = list(self._rows.values())
        found: list[str] = []
        for chunk in rows:
            found += (m.group(0) for m in pattern.finditer(chunk.text))
            if len(found) >= limit:
                break
        return found[:limit]

    def all_ids(self) -> list[str]:
        with self._lock:
            self._refresh()
            return list(self._rows)

    def sync(self, wanted: set[str], fetch: Callable[[list[str]], list[Chunk]]) -> None:
        """Hold exactly the ``wanted`` ids: drop the others, ``fetch`` the missing ones."""
        with self._lock:
            self._refresh()
            self.delete([i for i in self._rows if i not in wanted])
            self.add(fetch(sorted(wanted - set(self._rows))))

    def compact(self) -> None:
        """Rewrite the log with live rows only (atomic replace)."""
        if self.log_path is None:
            return
        with self._lock:
            tmp = self.log_path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as out:
                for chunk in self._rows.values():
                    out.write(json.dumps({"op": "add", **chunk_to_row(chunk)}, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.log_path)
            self._seen = self._log_stamp()

    def log_is_bloated(self) -> bool:
        if self.log_path is None:
            return False
        lines = sum(1 for _ in self.log_path.open("rb")) if self.log_path.exists() else 0
        return lines > 2 * max(len(self._rows), 1000)

    # internals
    def _append(self, records: list[dict]) -> None:
        if self.log_path is None:
            return
        with self.log_path.open("a", encoding="utf-8") as out:
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            out.flush()
            os.fsync(out.fileno())
        self._seen = self._log_stamp()

    def _log_stamp(self) -> object:
        if self.log_path is None or not self.log_path.exists():
            return None
        info = self.log_path.stat()
        return (info.st_ino, info.st_size, info.st_mtime_ns)  # compact() renames: a new inode

    def _refresh(self) -> None:
        stamp = self._log_stamp()
        if stamp == self._seen:
            return
        rows: dict[str, Chunk] = {}
        if self.log_path is not None and self.log_path.exists():
            with self.log_path.open(encoding="utf-8") as lines:
                for line in lines:
                    if not line.endswith("\n"):
                        log.warning("%s: ignoring a torn last line", self.log_path)
                        break
                    record = json.loads(line)
                    if record["op"] == "add":
                        rows[record["id"]] = chunk_from_row(record)
                    else:
                        rows.pop(record["id"], None)
        self._rows, self._seen, self._built, self._words = rows, stamp, None, None

    def _index(self) -> tuple[object, list[Chunk]]:
        """The BM25 index of the current rows (built once per change; the caller holds the lock)."""
        if self._built is None:
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
            chunks = list(self._rows.values())
            corpus = [f"{c.title}\n{c.section}\n{c.text}" for c in chunks]
            retriever = bm25s.BM25()
            retriever.index(keyword_tokens(corpus), show_progress=False)
            self._built = (retriever, chunks)
        return self._built
