"""Hostile files cost a bounded parse: the DOCX style scan, and the time and memory budget of every parser."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ingest.budget import LoadBudget, load_within
from ingest.loaders import IngestError
from tests.conftest import CORPUS


def rewritten_docx(path: Path, replace: dict[str, tuple[bytes, bytes]], add: dict[str, str] | None = None,
                   source: bytes | None = None) -> Path:
    """``source`` (default: an empty document python-docx makes) with ``replace[part] = (old, new)`` applied to
    its parts and the ``add`` parts added: what python-docx cannot write (or would take minutes to), as Word
    writes it."""
    if source is None:
        import docx

        buffer = io.BytesIO()
        docx.Document().save(buffer)
        source = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            data = original.read(item)
            if item.filename in replace:
                old, new = replace[item.filename]
                data = data.replace(old, new)
            out.writestr(item, data)
        for name, text in (add or {}).items():
            out.writestr(name, text)
    return path


def _styled_docx(path: Path, styles: int, paragraphs: int) -> Path:
    """Many paragraph styles and many paragraphs: python-docx's ``paragraph.style`` scans every style per paragraph."""
    custom = "".join(f'<w:style w:type="paragraph" w:customStyle="1" w:styleId="Custom{i}"><w:name w:val="Custom {i}"/>'
                     f"</w:style>" for i in range(styles))
    body = ('<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly lantern report</w:t></w:r></w:p>'
            + "".join(f'<w:p><w:pPr><w:pStyle w:val="Custom{i % styles}"/></w:pPr><w:r><w:t>Lantern {i} was '
                      f"polished by the night crew.</w:t></w:r></w:p>" for i in range(paragraphs)))
    return rewritten_docx(path, {"word/styles.xml": (b"</w:styles>", custom.encode() + b"</w:styles>"),
                                 "word/document.xml": (b"<w:body>", f"<w:body>{body}".encode())})


def _bulky_docx(path: Path, megabytes: int) -> Path:
    """A valid DOCX whose document.xml unpacks to ``megabytes`` MB (under the zip-bomb limit, tiny zipped)."""
    paragraph = b"<w:p><w:r><w:t>filler text of the bulky document</w:t></w:r></w:p>"
    filler = paragraph * (megabytes * 2**20 // len(paragraph))
    return rewritten_docx(path, {"word/document.xml": (b"<w:body>", b"<w:body>" + filler)})


def test_a_docx_of_many_styles_loads_in_a_small_budget_and_keeps_its_headings(tmp_files):
    path = _styled_docx(tmp_files / "lanterns.docx", styles=10_000, paragraphs=2000)
    assert path.stat().st_size < 300_000
    # python-docx's per-paragraph style lookup needs about 10 s for this file here; read once, it needs well under 1 s
    doc = load_within(path, 10**8, budget=LoadBudget(seconds=3, seconds_per_mb=0))
    assert doc.text.startswith("# Quarterly lantern report\n\nLantern 0 was polished")
    assert doc.text.count("\n\n") == 2000


@pytest.mark.slow
def test_a_parse_over_its_time_budget_is_stopped_with_a_clear_error(make_assistant, tmp_files):
    path = _bulky_docx(tmp_files / "bulky.docx", megabytes=60)
    bot = make_assistant(load_seconds=0.2, load_seconds_per_mb=0)
    before = bot.collection.count()
    bot.ingest([CORPUS])
    report = bot.ingest([path])
    [(name, message)] = report.failed
    assert name == str(path.resolve()) and "bulky.docx" in message and "budget of 0 s" in message
    assert bot.collection.count() > before and not bot.ask("When was the Strategic Mechanism announced?").abstained


@pytest.mark.slow
def test_a_parse_over_its_memory_budget_is_refused_not_the_server_killed(tmp_files):
    path = _bulky_docx(tmp_files / "bulky.docx", megabytes=150)
    with pytest.raises(IngestError) as caught:
        load_within(path, 10**9, budget=LoadBudget(seconds=120, seconds_per_mb=0, memory_mb=300))
    message = str(caught.value)
    assert message.startswith("bulky.docx:") and ("memory" in message.lower() or "stopped" in message)


def test_markdown_and_text_load_in_process_and_others_in_a_child(tmp_files):
    import os

    note = tmp_files / "note.md"
    note.write_text("# Note\n\nThe pid test.\n", encoding="utf-8")
    assert load_within(note, 10**6).text.startswith("# Note")
    page = tmp_files / "page.html"
    page.write_text("<html><body><p>A page parsed elsewhere.</p></body></html>", encoding="utf-8")
    assert load_within(page, 10**6).text == "A page parsed elsewhere."
    assert os.getpid()  # the parent is alive and well after the child exited


def test_a_broken_file_in_the_child_is_an_ingest_error_naming_the_file(tmp_files):
    broken = tmp_files / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)
    with pytest.raises(IngestError, match=r"^broken\.pdf: "):
        load_within(broken, 10**6)
