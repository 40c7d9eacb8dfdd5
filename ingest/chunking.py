"""Cut a Document into chunks that follow its structure and keep exact offsets.

Sections first (Markdown headings), then paragraphs, then sentences: a chunk is a run of whole
sentences of one section, at most ``chunk_size`` characters, that starts with up to ``overlap``
characters of the previous chunk's last sentences. Chunks never cross a heading, and a chunk's
text is always ``document.text[start:end]``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.records import Chunk, Document, chunk_id
from ingest.segmenter import english_segmenter

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")  # also where the verifier looks for a value (assistant/support.py)
# A fenced code block: one "sentence" (its inner lines, verbatim), never split by the sentence splitter
_WRAPPED_ON = re.compile(r"^\s*[a-z(]")  # a line that starts in lower case goes on with the sentence before
_SENTENCE_END = re.compile(r"[.!?:;]['\")\]]*\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s")
_TERM_CHARS = 60  # a longer line over an indented one is the start of a paragraph with a hanging indent
_FIELD = re.compile(r"^\s*[\w-]+:\s")  # "author: ..." (front matter, mail headers)
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)\n?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
# pysbd marks up text with these symbols internally and mangles sentences that already hold them;
# they are swapped for a neutral letter of the same length before segmenting (offsets do not move).
_PYSBD_SYMBOLS = re.compile("[∯♟♝♨☝ƪᓴᓷ✂☏☉☈☇☄∮ȹȸ⎋⌬ᓸᓳᓱᓰ♭♬]")
# a dot that starts a word (".git", ".bashrc", ".md") or a path ("./package.deb", "../configure", "~/.ssh") ends no
# sentence, but pysbd splits before it: it is masked the same way (one letter for one letter)
_LEADING_DOT = re.compile(r"(?<![^\s/])\.+(?=[\w/])")
LEAD_SECTION = "Introduction"
# bump when the same text and settings would be cut differently: stored documents are cut again at the next ingest
# 2: a term line is read with its indented description (_describes); 3: dots that start a path; 4: a blank line
# between a term and its description; 5: only an option's term over a blank line
CHUNKER_VERSION = 5
FRONT_MATTER_SECTION = "Document information"


class ChunkingConfig(BaseModel):
    """How documents are cut (``Settings.chunking``; env ``ASSISTANT_CHUNK_SIZE``, ``ASSISTANT_CHUNK_OVERLAP``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_size: int = Field(1200, ge=50, le=4000, description="Target chunk length in characters.")
    overlap: int = Field(300, ge=0, description="Characters of the previous chunk a chunk repeats.")

    @property
    def signature(self) -> str:
        """What a stored document's chunks depend on: when it changes, the next ingest cuts the document again."""
        return f"{self.chunk_size}/{self.overlap}/v{CHUNKER_VERSION}"

    @model_validator(mode="after")
    def _overlap_under_half(self) -> ChunkingConfig:
        if self.overlap >= self.chunk_size // 2:
            raise ValueError("overlap must be between 0 and half of chunk_size")
        return self


@lru_cache(maxsize=1)
def _segmenter():  # pysbd builds its rule set once
    return english_segmenter()


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (whitespace trimmed), shifted by ``offset``."""
    spans = []
    for line_start, line in _lines_of(text):
        masked = _LEADING_DOT.sub(lambda m: "x" * len(m.group(0)), _PYSBD_SYMBOLS.sub("x", line))
        for span in _segmenter().segment(masked):
            start, end = _trim(line, span.start, span.end)
            if end > start:
                spans.append((offset + line_start + start, offset + line_start + end))
    return spans


def _lines_of(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines, each segmented on its own: a single line break ends a sentence (headlines, bylines, list
    items, fields), except in hard-wrapped prose, where a line that ends no sentence goes on in a next line
    starting in lower case (man pages, plain-text manuals, mail). Joined lines keep their offsets (the line
    break reads as a space)."""
    start, current, pos = 0, "", 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if current and (_continues(current, line) or _blank_under_term(current, line, following)):
            current += "\n" + line
        else:
            if current.strip():
                yield start, current.replace("\n", " ")
            start, current = pos, line
        pos += len(line) + 1
    if current.strip():
        yield start, current.replace("\n", " ")


def _continues(previous: str, line: str) -> bool:
    last = previous.rsplit("\n", 1)[-1]
    if _SENTENCE_END.search(last) or last.strip().isupper() or LIST_ITEM.match(line) or _FIELD.match(line):
        return False
    return bool(_WRAPPED_ON.match(line)) or _describes(previous, line)


def _describes(previous: str, line: str) -> bool:
    """A one-line term over a deeper indented description (an option and what it does, in man pages and plain
    text manuals: "--dry-run, -n" then "This makes rsync perform a trial run..."): the description's first
    sentence carries the term, which alone is too short to quote and is the answer to "which option ...?".
    A blank line may stand between them (help2man's layout: sed's "-n, --quiet, --silent")."""
    term = previous.rstrip()
    return "\n" not in term and 0 < len(term.strip()) <= _TERM_CHARS and bool(line.strip()) \
        and _indent(line) > _indent(term)


_OPTION_TERM = re.compile(r"-\S")  # "-n, --quiet", "--debug"; not a list item's "- "


def _blank_under_term(previous: str, line: str, following: str) -> bool:
    """A blank line between an option and its description, read as part of the option's sentence (only an
    option: over a blank line, a command and the next line of a diagram are no term and description)."""
    return not line.strip() and "\n" not in previous and _OPTION_TERM.match(previous.strip()) is not None \
        and not _SENTENCE_END.search(previous) and _describes(previous, following)


def _indent(line: str) -> int:
    return len(line.expandtabs()) - len(line.expandtabs().lstrip())


def is_running_line(sentence: str) -> bool:
    """A man page's running header or footer as ``man`` lays it out in text: three fields spread across one line,
    the page's name and section at an end ("UNIQ(1)      User Commands      UNIQ(1)", "GNU coreutils 9.1
    September 2022   SORT(1)") or the same word at both ("BSD   January 13, 2023   BSD"). Like front matter it
    names the document and never answers a question about its content."""
    fields = _SPREAD.split(sentence.strip())
    if "\n" in sentence or len(fields) != 3:
        return False
    return fields[0] == fields[-1] or any(_MANUAL_PAGE.fullmatch(f) for f in (fields[0], fields[-1]))


_SPREAD = re.compile(r" {3,}")
_MANUAL_PAGE = re.compile(r"[\w.+-]+\([0-9][a-z]*\)", re.IGNORECASE)  # "SORT(1)", "ssh_config(5)"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(span: tuple[int, int], text: str, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` at whitespace (or hard, if it has none)."""
    start, end = span
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append(_trim(text, start, cut))
        start = _trim(text, cut, end)[0]
    pieces.append((start, end))
    return [p for p in pieces if p[1] > p[0]]


def sections(doc: Document) -> Iterator[tuple[str, int, int]]:
    """(heading, start, end) of each section's body; text before the first heading is the lead.

    YAML front matter is a section of its own, so "who wrote it" and "when was it published"
    can be answered, and cited, from the document's own words.
    """
    body_start = 0
    match = _FRONT_MATTER.match(doc.text)
    if match:
        body_start = match.end()
        yield FRONT_MATTER_SECTION, match.start(1), match.end(1)
    heading, start = LEAD_SECTION, body_start
    pos = body_start
    fenced = False
    for line in doc.text[body_start:].splitlines(keepends=True):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        found = None if fenced else _HEADING.match(line.rstrip("\r\n"))
        if found:
            yield heading, start, pos
            heading, start = found.group(2).strip(), pos + len(line)
        pos += len(line)
    yield heading, start, len(doc.text)


def chunk_document(doc: Document, config: ChunkingConfig | None = None) -> list[Chunk]:
    """All chunks of a document, in document order, without duplicates."""
    config = config or ChunkingConfig()
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for heading, start, end in sections(doc):
        for span_group in _pack(_sentences_of_section(doc.text, start, end, config.chunk_size), config):
            chunk = _make_chunk(doc, heading, span_group)
            if chunk.id not in seen:
                seen.add(chunk.id)
                chunks.append(chunk)
    return chunks


def _sentences_of_section(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Sentence spans of a section; a fenced code block is one span (cut at line ends if over ``limit``)."""
    spans: list[tuple[int, int]] = []
    section = text[start:end]
    pos = 0
    for fence in [*_FENCE.finditer(section), None]:
        prose_end = fence.start() if fence else len(section)
        spans.extend(_prose_spans(text, start + pos, start + prose_end, limit))
        if fence:
            code = _trim(text, start + fence.start(2), start + fence.end(2))
            spans.extend(_split_lines(code, text, limit) if code[1] > code[0] else [])
            pos = fence.end()
    return spans


def _prose_spans(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    section = text[start:end]
    pos = 0
    for match in [*PARAGRAPH_BREAK.finditer(section), None]:
        if match and _blank_under_term(section[pos : match.start()].strip("\n"), "", _first_line(section, match.end())):
            continue  # the term's description follows the break: one paragraph
        para_end = match.start() if match else len(section)
        for span in sentence_spans(section[pos:para_end], start + pos):
            spans.extend(_split_long(span, text, limit))
        pos = match.end() if match else pos
    return spans


def _first_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start : end if end >= 0 else len(text)]


def _split_lines(span: tuple[int, int], text: str, limit: int) -> list[tuple[int, int]]:
    """A code block longer than ``limit``: pieces of whole lines (a single over-long line is cut hard)."""
    start, end = span
    pieces = []
    while end - start > limit:
        cut = text.rfind("\n", start + 1, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut + 1 if text[cut : cut + 1] == "\n" else cut
    pieces.append((start, end))
    return [p for p in pieces if p[1] > p[0]]


def _pack(spans: list[tuple[int, int]], config: ChunkingConfig) -> Iterator[list[tuple[int, int]]]:
    """Group consecutive sentences into chunks of at most chunk_size characters, with overlap."""
    group: list[tuple[int, int]] = []
    for span in spans:
        if group and span[1] - group[0][0] > config.chunk_size:
            yield group
            group = _overlap_tail(group, span, config)
        group.append(span)
    if group:
        yield group


def _overlap_tail(group: list[tuple[int, int]], nxt: tuple[int, int], config: ChunkingConfig):
    tail: list[tuple[int, int]] = []
    for span in reversed(group[1:]):  # never repeat the whole previous chunk
        if group[-1][1] - span[0] > config.overlap or nxt[1] - span[0] > config.chunk_size:
            break
        tail.insert(0, span)
    return tail


def _make_chunk(doc: Document, heading: str, spans: list[tuple[int, int]]) -> Chunk:
    start, end = spans[0][0], spans[-1][1]
    text = doc.text[start:end]
    return Chunk(
        id=chunk_id(doc.source, text, start),
        source=doc.source,
        text=text,
        start=start,
        end=end,
        title=doc.title,
        section=heading,
        sentences=tuple(spans),
        page=_page_at(doc, start),
        metadata=_metadata(doc, heading, start, end),
    )


def _metadata(doc: Document, heading: str, start: int, end: int) -> dict[str, str]:
    """The document's metadata, the anchor of the chunk's section, and the page breaks inside the chunk."""
    metadata = dict(doc.metadata)
    anchor = dict(doc.anchors).get(heading)
    if anchor:
        metadata["anchor"] = anchor
    breaks = [f"{at}:{page}" for at, page in doc.page_starts if start < at < end]
    if breaks:
        metadata["page_breaks"] = ",".join(breaks)
    return metadata


def _page_at(doc: Document, offset: int) -> int | None:
    if not doc.page_starts:
        return None
    index = bisect.bisect_right([s for s, _ in doc.page_starts], offset) - 1
    return doc.page_starts[max(index, 0)][1]
