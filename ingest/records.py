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
    # (heading text, anchor) pairs: where a link can open the original at a section (HTML ids)
    anchors: tuple[tuple[str, str], ...] = ()
    # what the loader could not read faithfully, in words for the user ("page 3 has no text")
    warnings: tuple[str, ...] = ()


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

    def page_at(self, offset: int) -> int | None:
        """The page an offset of this chunk is on: a chunk that crosses a page break keeps where it does
        (``metadata["page_breaks"]``, "offset:page,..."), so a quote cites the page it is printed on."""
        page = self.page
        for pair in filter(None, self.metadata.get("page_breaks", "").split(",")):
            at, _, number = pair.partition(":")
            if offset >= int(at):
                page = int(number)
        return page


def chunk_id(source: str, text: str, start: int) -> str:
    """Content-addressed id: the same text at the same offset of the same source always gets the same id.

    The offset is part of it: text that moved (a line added above it) is a new chunk with its new offsets,
    not the old chunk whose offsets no longer hold.
    """
    return hashlib.sha256(f"{source}\x00{start}\x00{text}".encode()).hexdigest()[:32]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
