"""The records that ingest produces: a loaded Document and the Chunks cut from it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded file: ``text`` is the exact text every offset of its chunks points into."""

    source: str
    text: str
    title: str
    metadata: dict[str, str] = field(default_factory=dict)
    # (start offset, page number) of each page, for PDFs; empty otherwise.
    page_starts: tuple[tuple[int, int], ...] = ()
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A contiguous span ``[start, end)`` of a document's text, with its sentences' spans."""

    id: str
    source: str
    text: str
    start: int
    end: int
    title: str
    section: str
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) offsets, inside [start, end)
    page: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def sentence_texts(self) -> list[str]:
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]


def chunk_id(source: str, text: str, start: int) -> str:
    """Content-addressed id: the same text at the same offset of the same source always gets the same id.

    The offset is part of it: text that moved (a line added above it) is a new chunk with its new offsets,
    not the old chunk whose offsets no longer hold.
    """
    return hashlib.sha256(f"{source}\x00{start}\x00{text}".encode()).hexdigest()[:32]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
