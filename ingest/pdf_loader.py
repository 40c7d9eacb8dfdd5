"""PDF: text per page with pypdfium2 (PDFium), repaired the way a reader would read it.

PDFium keeps the spaces between words (pypdf glued about half the lines of a real manual into one
"word", ``bench/pdf_extractors.py``) and is many times faster. Its page text is then turned into the
text chunk offsets point into:

* running headers and footers go: a first or last line of a page that recurs (numbers aside) on three
  pages or more (two, if it ends in a page number), and bare page numbers; outline headings stay;
* table-of-contents lines (``5.4.9 Layout . . . . . 37``) go;
* lines are folded back into paragraphs; a list item (``•``, ``-``, ``1.``) starts a line of its own;
* a word the typesetter broke at a line end (PDFium marks it with U+0002) is made whole, unless the
  document writes it with a hyphen elsewhere ("command-line"); a plain hyphen at a line end is joined
  when the joined word occurs elsewhere in the document;
* headings from the PDF's outline (bookmarks) become ``#`` lines, so they start sections;
* a two-column page is read a column at a time (a character-free band in the middle third of the page).

Every chunk keeps the number of the page it starts on.
"""

from __future__ import annotations

import re
from collections import Counter

from ingest.records import Document, content_hash

SOFT_HYPHENS = ("\x02", "\ufffe", "\u00ad")
_DIGITS = re.compile(r"\d+")
# a well-formed roman numeral below 40 (front-matter page numbers), not any word of the letters i v x l c d m
_ROMAN = r"(?=[ivxl])x{0,3}(?:ix|iv|v?i{0,3})"
_ROMAN_END = re.compile(rf"\b{_ROMAN}$")
_PAGE_NUMBER = re.compile(rf"^\s*(?:page\s+)?(?:\d+|{_ROMAN})(?:\s*(?:/|of)\s*\d+)?\s*$", re.IGNORECASE)
_TOC_LINE = re.compile(r"(?:\.\s*){4,}\d+\s*$")
_BULLET = re.compile(r"^\s*(?:[•◦▪‣·●○■□–-]|\d+[.)]|[a-z][.)])\s+")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_MARKED_BREAK = re.compile(r"([^\W\d_]+)[\x02\ufffe\u00ad]\s*([^\W\d_]*)")
_ENDS_SENTENCE = re.compile(r"[.!?:;)\]\"”]\s*$")


class PdfError(ValueError):
    """The PDF cannot be read; the message says why."""


def load_pdf(source: str, data: bytes, fallback_title: str) -> Document:
    pages, outline, title = _read(data)
    running = _running_lines(pages)
    vocabulary = Counter(w.lower() for page in pages for line in page for w in _WORD.findall(line))
    parts: list[str] = []
    page_starts: list[tuple[int, int]] = []
    warnings: list[str] = []
    offset = 0
    for number, lines in enumerate(pages, start=1):
        headings = {t for t, p in outline if p == number}
        kept = [line for i, line in enumerate(lines)
                if _heading_of(" ".join(line.split()), headings) or not _is_chrome(line, i, len(lines), running)]
        text = _reflow(kept, headings, vocabulary)
        if not text:
            warnings.append(f"page {number} has no text (a scan or an image?)")
            continue
        page_starts.append((offset, number))
        parts.append(text)
        offset += len(text) + 2
    if not parts:
        raise PdfError("the PDF has no extractable text (is it a scan?)")
    return Document(source, "\n\n".join(parts), title or fallback_title, page_starts=tuple(page_starts),
                    content_hash=content_hash(data), warnings=tuple(_summarise(warnings, len(pages))))


def _read(data: bytes) -> tuple[list[list[str]], list[tuple[str, int]], str]:
    """(lines of each page, outline entries as (heading, page number), title) of a PDF."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise PdfError("the PDF is encrypted; save it without a password and add it again") from exc
        raise PdfError(f"not a readable PDF (PdfiumError: {message})") from exc
    try:
        pages = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            raw = "\n".join(_columns_of(textpage, *page.get_size()))
            textpage.close()
            page.close()
            pages.append([line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                          if line.strip()])
        outline = []
        for item in pdf.get_toc():
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            if index is not None:
                outline.append((" ".join((item.get_title() or "").split()), index + 1))
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()
    return pages, outline, title


def _columns_of(textpage, width: float, height: float) -> list[str]:
    """The page's text, a column at a time when it has two: PDFium reads across the gutter otherwise.

    Two columns means: in the middle third of the page there is a vertical band that (almost) no character
    box touches, with a fair share of the text on each side of it.
    """
    count = textpage.count_chars()
    if count < 80 or width <= 0:
        return [textpage.get_text_bounded()]
    bins = [0] * 100
    for index in range(0, count, max(1, count // 1500)):
        left, _, right, _ = textpage.get_charbox(index)
        if right > left:
            for k in range(max(0, int(left / width * 100)), min(99, int(right / width * 100)) + 1):
                bins[k] += 1
    # a gutter is a band at least 3% of the page wide (dot leaders of a table of contents leave narrower ones)
    gap = min(range(35, 65), key=lambda k: sum(bins[k - 1 : k + 2]))
    total = sum(bins)
    if sum(bins[gap - 1 : gap + 2]) > 0.05 * max(bins) or min(sum(bins[:gap]), sum(bins[gap + 1 :])) < 0.25 * total:
        return [textpage.get_text_bounded()]
    middle = (gap + 0.5) / 100 * width
    return [textpage.get_text_bounded(0, 0, middle, height), textpage.get_text_bounded(middle, 0, width, height)]


def _signature(line: str) -> str:
    """A line with its numbers (arabic, or a roman page number at its end) as ``#``: headers differ only there."""
    return _ROMAN_END.sub("#", " ".join(_DIGITS.sub("#", line).split()).lower())


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Signatures of lines that open or close three pages or more: running headers and footers."""
    counts: Counter[str] = Counter()
    for lines in pages:
        edges = {_signature(line) for line in (*lines[:2], *lines[-2:])}
        counts.update(edges)
    # a line ending in a number (a page number) need only recur twice: chapter headers change per chapter
    return {sig for sig, n in counts.items() if sig and (n >= 3 or (n >= 2 and sig.endswith("#")))}


def _is_chrome(line: str, index: int, count: int, running: set[str]) -> bool:
    at_edge = index < 2 or index >= count - 2
    if at_edge and (_signature(line) in running or _PAGE_NUMBER.match(line)):
        return True
    return bool(_TOC_LINE.search(line))


def _mend_hyphens(text: str, vocabulary: Counter[str]) -> str:
    """PDFium marks a word the typesetter broke at a line end with U+0002 (and joins the lines): make it one
    word, unless the document writes it elsewhere with its hyphen ("command-line")."""

    def mend(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        hyphenated = vocabulary[f"{head}-{tail}".lower()] > 0 and vocabulary[(head + tail).lower()] == 0
        return f"{head}-{tail}" if hyphenated else head + tail

    return _MARKED_BREAK.sub(mend, text)


def _reflow(lines: list[str], headings: set[str], vocabulary: Counter[str]) -> str:
    """Visual lines -> blocks: a wrapped line joins the one before unless it starts a list item, a heading,
    or a new sentence after one that ended at the line end."""
    blocks: list[str] = []
    for line in lines:
        text = _mend_hyphens(" ".join(line.split()), vocabulary)
        heading = _heading_of(text, headings)
        if heading:
            blocks.append(heading)
        elif blocks and not blocks[-1].startswith("#") and _continues(blocks[-1], text):
            blocks[-1] = _join(blocks[-1], text, vocabulary)
        else:
            blocks.append(text)
    return "\n\n".join(blocks)


def _continues(previous: str, line: str) -> bool:
    if _BULLET.match(line):
        return False
    return not (_ENDS_SENTENCE.search(previous) and line[:1].isupper())


def _heading_of(line: str, headings: set[str]) -> str | None:
    for heading in headings:
        if heading and (line == heading or (line.endswith(heading) and len(line) - len(heading) <= 12)):
            return f"## {line}"
    return None


def _join(previous: str, line: str, vocabulary: Counter[str]) -> str:
    """Join a wrapped line to the one before; a word broken by a hyphen is made whole where that is right."""
    if previous.endswith(SOFT_HYPHENS):
        return previous[:-1] + line
    broken = re.search(r"([^\W\d_]+)-$", previous)
    if broken and line[:1].islower():
        head, tail = broken.group(1), re.match(r"[^\W\d_]*", line).group()
        if vocabulary[(head + tail).lower()] > 0:
            return previous[:-1] + line
        return previous + line
    return f"{previous} {line}"


def _summarise(warnings: list[str], pages: int) -> list[str]:
    if len(warnings) > 5:
        return [f"{len(warnings)} of {pages} pages have no text (scans or images?)"]
    return warnings
