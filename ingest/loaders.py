"""Turn files into Documents: Markdown (with YAML front matter), text, HTML, PDF and DOCX.

Every loader returns the exact text that chunk offsets point into. Failures raise
:class:`IngestError` with a message meant for the person who gave us the file.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from ingest.records import Document, content_hash

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")
FRONT_MATTER_KEYS = ("title", "author", "publisher", "published", "url")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*\r?$", re.MULTILINE)
# A DOCX is a zip: refuse members that would inflate past this (zip bombs).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# Windows-1252 as browsers decode it: the five bytes it leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) keep
# their Latin-1 code points, so one stray byte does not turn every curly quote and dash of a file into C1 controls.
_WINDOWS_1252 = {b: bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


class IngestError(ValueError):
    """A file we cannot ingest; the message says why, in words a user understands."""


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the sorted list of supported files; unknown paths raise."""
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise IngestError(f"{raw}: no such file or folder")
        if path.is_dir():
            found.update(
                p.resolve()
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not _hidden(p.relative_to(path))
            )
        else:
            found.add(path.resolve())
    return sorted(found)


def _hidden(relative: Path) -> bool:
    """A dot file, or anything inside a dot folder (.git, .venv, .obsidian)."""
    return any(part.startswith(".") for part in relative.parts)


def load(path: str | Path, max_bytes: int = 50 * 1024 * 1024, source: str | None = None) -> Document:
    """Load one file by its suffix. Raises IngestError for anything we cannot read.

    ``source`` is what the Document is recorded as (default: the file's resolved path); an upload is read
    from its staging file but recorded under the name it will have once its ingest has committed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise IngestError(
            f"{path.name}: unsupported file type '{suffix or '(none)'}'; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read ({exc.strerror})") from exc
    if size > max_bytes:  # refused on its size alone: the file is never read
        raise IngestError(
            f"{path.name}: {size:,} bytes is over the limit of {max_bytes:,} bytes ({max_bytes / 2**20:.3g} MB)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read ({exc.strerror or exc})") from exc
    source = source or str(path.resolve())
    doc = loader(source, data)
    if not doc.text.strip():
        raise IngestError(f"{path.name}: the file has no text")
    return doc


def decode_text(name: str, data: bytes) -> str:
    """Decode bytes as UTF-8 (or UTF-16 with a byte order mark, else Windows-1252); refuse binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(f"{name}: starts like UTF-16 text but does not decode as UTF-16") from exc
    if b"\x00" in data[:8192]:
        raise IngestError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("latin-1").translate(_WINDOWS_1252)
    log.warning("%s is not UTF-8; decoded it as Windows-1252", name)
    return text


def _markdown(source: str, data: bytes) -> Document:
    text = decode_text(Path(source).name, data)
    metadata: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            front = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            front = {}
            log.warning("%s: front matter is not valid YAML; ignored it", source)
        if isinstance(front, dict):
            metadata = {k: str(front[k]) for k in FRONT_MATTER_KEYS if front.get(k) is not None}
    heading = _MD_HEADING.search(text, match.end() if match else 0)
    title = metadata.pop("title", "") or (heading.group(1) if heading else "") or Path(source).stem
    return Document(source, text, title, metadata, content_hash=content_hash(data))


def _plain(source: str, data: bytes) -> Document:
    text = decode_text(Path(source).name, data)
    return Document(source, text, Path(source).stem, content_hash=content_hash(data))


def _html(source: str, data: bytes) -> Document:
    from ingest.html_loader import load_html

    return load_html(source, decode_text(Path(source).name, data), data, Path(source).stem)


def _pdf(source: str, data: bytes) -> Document:
    from ingest.pdf_loader import PdfError, load_pdf

    try:
        return load_pdf(source, data, Path(source).stem)
    except PdfError as exc:
        raise IngestError(f"{Path(source).name}: {exc}") from exc


def _docx(source: str, data: bytes) -> Document:
    import docx
    import docx.table

    name = Path(source).name
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise IngestError(f"{name}: unpacks to more than {MAX_UNZIPPED_BYTES:,} bytes; refused")
        document = docx.Document(io.BytesIO(data))
    except (IngestError, MemoryError):
        raise
    except Exception as exc:
        raise IngestError(f"{name}: not a readable DOCX ({type(exc).__name__}: {exc})") from exc
    headings = _heading_levels(document)
    blocks: list[str] = []
    for item in document.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(item, docx.table.Table):
            blocks.append(_table_rows(item))
            continue
        words = " ".join(item.text.split())
        if words:
            level = headings.get(_style_id(item))
            blocks.append(f"{'#' * level} {words}" if level else words)
    notes = _footnotes(document)
    if notes:
        blocks += ["# Footnotes", *notes]
    title = document.core_properties.title or Path(source).stem
    return Document(source, "\n\n".join(b for b in blocks if b), title, content_hash=content_hash(data))


def _table_rows(table) -> str:
    """One line per row, cells joined by " | " (a merged cell is written once)."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _footnotes(document) -> list[str]:
    """The footnotes part (python-docx has no API for it): "Footnote N: text" for each real footnote."""
    from docx.oxml.ns import qn
    from lxml import etree

    part = next((p for p in document.part.package.iter_parts() if str(p.partname) == "/word/footnotes.xml"), None)
    if part is None:
        return []
    notes = []
    for note in etree.fromstring(part.blob).iter(qn("w:footnote")):
        number = note.get(qn("w:id"))
        text = " ".join("".join(t.text or "" for t in note.iter(qn("w:t"))).split())
        if number and number.isdigit() and int(number) > 0 and text:
            notes.append(f"Footnote {number}: {text}")
    return notes


def _heading_levels(document) -> dict[str, int]:
    """Style id -> heading level, read once from the styles part.

    ``paragraph.style`` looks its style up by id with an XPath query over every style, per paragraph:
    a 48 KB file of many paragraphs and styles took 50 s that way.
    """
    from docx.oxml.ns import qn

    levels: dict[str, int] = {}
    for style in document.styles.element.findall(qn("w:style")):
        name = style.find(qn("w:name"))
        match = re.match(r"heading (\d)$", (name.get(qn("w:val")) or "") if name is not None else "", re.IGNORECASE)
        if match and style.get(qn("w:styleId")):
            levels[style.get(qn("w:styleId"))] = int(match.group(1))
    return levels


def _style_id(para) -> str | None:
    properties = para._p.pPr
    style = properties.pStyle if properties is not None else None
    return style.val if style is not None else None


_LOADERS: dict[str, Callable[[str, bytes], Document]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _plain,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
}
