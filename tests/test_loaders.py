"""Loaders: every supported format becomes a Document whose text the chunk offsets point into.

Test files are generated here (a hand-built PDF, a python-docx document) instead of checked in.
"""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import pytest

from ingest.chunking import LEAD_SECTION, ChunkingConfig, chunk_document
from ingest.loaders import MAX_UNZIPPED_BYTES, SUPPORTED_SUFFIXES, IngestError, find_files, load
from ingest.records import content_hash
from tests.conftest import CORPUS

FRONT_MATTER_MD = """---
title: Front Title
author: Jane Roe
publisher: Example Press
published: 2021-03-04
url: https://example.org/front
tags: [ignored, key]
---

Body sentence one. Body sentence two.

## Part Two

Body of part two.
"""


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text page per entry ('' makes a blank page)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        ops = ("BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in text.split("\n")) + " ET"
               if text else "")
        objects.append(f"<< /Length {len(ops.encode('latin-1'))} >>\nstream\n{ops}\nendstream")
        content = len(objects)
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>"
        )
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    info = None
    if title:
        objects.append(f"<< /Title ({title}) >>")
        info = len(objects)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    trailer = f"/Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "")
    out.write(f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def make_docx(path: Path, title: str | None = None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_paragraph("Opening words before any heading.")
    document.add_heading("Background", level=1)
    document.add_paragraph("The background   paragraph\thas odd spacing.")
    document.add_paragraph("   ")  # empty paragraphs are dropped
    document.add_heading("Details", level=2)
    document.add_paragraph("Some details follow here.")
    document.save(path)
    return path


# Markdown


def test_markdown_front_matter_becomes_title_and_metadata(tmp_files: Path):
    path = tmp_files / "front.md"
    path.write_text(FRONT_MATTER_MD, encoding="utf-8")
    doc = load(path)
    assert doc.title == "Front Title"
    assert doc.metadata == {
        "author": "Jane Roe", "publisher": "Example Press", "published": "2021-03-04",
        "url": "https://example.org/front",
    }
    assert doc.text == FRONT_MATTER_MD  # offsets point into the file's own text
    assert doc.source == str(path.resolve())
    assert doc.content_hash == content_hash(path.read_bytes())
    assert doc.page_starts == ()


def test_bundled_article_metadata():
    doc = load(CORPUS)
    assert doc.title == "Making the New U.S.-Turkey Strategic Mechanism Meaningful"
    assert doc.metadata["author"] == "Alper Coşkun"
    assert doc.metadata["published"] == "2022-05-12"
    assert doc.metadata["url"].startswith("https://carnegieendowment.org/")
    assert doc.text == CORPUS.read_text(encoding="utf-8")


def test_markdown_title_falls_back_to_first_heading_then_file_name(tmp_files: Path):
    headed = tmp_files / "headed.md"
    headed.write_text("Some lead text.\n\n## The First Heading ##\n\nMore text.\n", encoding="utf-8")
    assert load(headed).title == "The First Heading"
    plain = tmp_files / "no-heading.md"
    plain.write_text("Just text, no heading.\n", encoding="utf-8")
    assert load(plain).title == "no-heading"


def test_invalid_front_matter_yaml_is_ignored_not_fatal(tmp_files: Path):
    path = tmp_files / "bad-yaml.md"
    path.write_text("---\ntitle: [unclosed\nauthor: : :\n---\n\n# Real Title\n\nText.\n", encoding="utf-8")
    doc = load(path)
    assert doc.metadata == {}
    assert doc.title == "Real Title"


def test_front_matter_title_is_not_metadata_and_null_keys_are_dropped(tmp_files: Path):
    path = tmp_files / "nulls.md"
    path.write_text("---\ntitle: T\nauthor:\nurl: null\npublished: 2020\n---\n\nText here.\n", encoding="utf-8")
    doc = load(path)
    assert doc.title == "T"
    assert doc.metadata == {"published": "2020"}


def test_markdown_with_windows_line_endings_keeps_front_matter(tmp_files: Path):
    path = tmp_files / "crlf.md"
    path.write_bytes(FRONT_MATTER_MD.replace("\n", "\r\n").encode("utf-8"))
    doc = load(path)
    assert doc.title == "Front Title"
    assert doc.metadata.get("author") == "Jane Roe"


# Plain text


def test_txt_keeps_text_exactly_and_titles_by_file_name(tmp_files: Path):
    text = "First line.\n\nSecond paragraph with ünïcödé.\n"
    path = tmp_files / "notes.txt"
    path.write_text(text, encoding="utf-8")
    doc = load(path)
    assert doc.text == text
    assert doc.title == "notes"
    assert doc.metadata == {}


def test_utf8_bom_is_not_part_of_the_text(tmp_files: Path):
    path = tmp_files / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfHello there.")
    assert load(path).text == "Hello there."


def test_cp1252_text_is_decoded_not_refused(tmp_files: Path):
    path = tmp_files / "legacy.txt"
    path.write_bytes("Café naïve — “quoted” 5€.".encode("cp1252"))
    assert load(path).text == "Café naïve — “quoted” 5€."


def test_utf16_text_with_a_byte_order_mark_is_text(tmp_files: Path):
    path = tmp_files / "windows.txt"
    path.write_bytes("Hello from Windows.\r\n".encode("utf-16"))
    assert load(path).text.strip() == "Hello from Windows."


# HTML


def test_html_drops_scripts_styles_and_chrome_and_turns_headings_into_sections(tmp_files: Path):
    path = tmp_files / "page.html"
    path.write_text(
        "<html><head><title> The  Page Title </title><style>.x { color: red }</style>"
        "<script>var secretScript = 1;</script></head><body>"
        "<nav>Navigation menu</nav><header>Site header</header>"
        "<h1>Main Heading</h1><p>Hello <b>bold</b> world.</p>"
        "<h2>Second Part</h2><ul><li>First item with a <p>nested paragraph</p>.</li></ul>"
        "<noscript>Enable scripts</noscript><footer>Footer text</footer></body></html>",
        encoding="utf-8",
    )
    doc = load(path)
    assert doc.title == "The Page Title"
    for hidden in ("secretScript", "color: red", "Navigation menu", "Site header", "Enable scripts", "Footer text"):
        assert hidden not in doc.text
    assert "# Main Heading" in doc.text
    assert "## Second Part" in doc.text
    assert doc.text.count("nested paragraph") == 1  # nested blocks are not repeated
    chunks = chunk_document(doc)
    by_section = {c.section: c.text for c in chunks}
    assert by_section["Main Heading"] == "Hello bold world."
    assert "nested paragraph" in by_section["Second Part"]
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text


def test_a_pre_block_inside_a_definition_list_stays_code_and_the_prose_after_it_stays_prose(tmp_files: Path):
    """asciidoc manuals (git's) put examples inside <dd>: markdownify indents their fences. Read as one line,
    the opening fence ran on until the next fence at a line start and swallowed the prose between as code, so
    its sentences were never split (one 1,000-character "sentence" holding five options)."""
    path = tmp_files / "stash.html"
    path.write_text(
        "<html><body><h1>Commands</h1><dl>"
        "<dt>list</dt><dd><p>List the stash entries.</p><pre><code>stash@{0}: WIP on submit\n"
        "stash@{1}: On master</code></pre><p>The command takes log options.</p></dd>"
        "<dt>drop</dt><dd><p>Remove a single stash entry. It is gone for good.</p></dd></dl>"
        "<h2>Examples</h2><pre>git stash list</pre></body></html>",
        encoding="utf-8",
    )
    doc = load(path)
    assert "```\nstash@{0}: WIP on submit\nstash@{1}: On master\n```" in doc.text
    sentences = [text for chunk in chunk_document(doc) for text in chunk.sentence_texts()]
    assert "The command takes log options." in sentences
    assert any(text.endswith("Remove a single stash entry.") for text in sentences), sentences
    assert "It is gone for good." in sentences


def test_html_without_block_markup_falls_back_to_visible_text(tmp_files: Path):
    path = tmp_files / "bare.htm"
    path.write_text("<html><body>Loose text   here.<br>Another line.</body></html>", encoding="utf-8")
    doc = load(path)
    assert "Loose text here." in doc.text
    assert "Another line." in doc.text
    assert doc.title == "bare"


# PDF


def test_pdf_keeps_page_numbers_for_chunks(tmp_files: Path):
    path = tmp_files / "two-pages.pdf"
    path.write_bytes(make_pdf(["Aardvarks dig burrows at night.\nThey eat ants.", "",
                               "Zebras have black and white stripes."], title="Animal Facts"))
    doc = load(path)
    assert doc.title == "Animal Facts"
    assert "Aardvarks dig burrows at night." in doc.text
    assert "Zebras have black and white stripes." in doc.text
    assert [page for _, page in doc.page_starts] == [1, 3]  # the blank page 2 keeps its number
    chunks = chunk_document(doc, ChunkingConfig(chunk_size=60, overlap=0))
    pages = {c.page for c in chunks}
    assert pages == {1, 3}
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        expected = 1 if "Aardvarks" in chunk.text or "ants" in chunk.text else 3
        assert chunk.page == expected, chunk


def test_pdf_title_falls_back_to_file_name(tmp_files: Path):
    path = tmp_files / "untitled.pdf"
    path.write_bytes(make_pdf(["Only one page of text."]))
    doc = load(path)
    assert doc.title == "untitled"
    assert chunk_document(doc)[0].page == 1


def test_pdf_without_text_is_refused(tmp_files: Path):
    path = tmp_files / "scan.pdf"
    path.write_bytes(make_pdf(["", ""]))
    with pytest.raises(IngestError, match=r"scan\.pdf: the PDF has no extractable text"):
        load(path)


# DOCX


def test_docx_headings_become_sections(tmp_files: Path):
    doc = load(make_docx(tmp_files / "report.docx", title="Quarterly Report"))
    assert doc.title == "Quarterly Report"
    assert "# Background" in doc.text
    assert "## Details" in doc.text
    assert "The background paragraph has odd spacing." in doc.text
    sections = {c.section: c.text for c in chunk_document(doc)}
    assert sections == {
        LEAD_SECTION: "Opening words before any heading.",
        "Background": "The background paragraph has odd spacing.",
        "Details": "Some details follow here.",
    }


def test_docx_title_falls_back_to_file_name(tmp_files: Path):
    assert load(make_docx(tmp_files / "memo.docx")).title == "memo"


def make_zip_bomb(path: Path) -> Path:
    """A .docx-named zip, under 2 MB on disk, whose one member inflates past MAX_UNZIPPED_BYTES."""
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("word/document.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(MAX_UNZIPPED_BYTES // len(block) + 1):
            member.write(block)
    assert path.stat().st_size < 2 * 1024 * 1024
    return path


def test_docx_zip_bomb_is_refused(tmp_files: Path):
    path = make_zip_bomb(tmp_files / "bomb.docx")
    with pytest.raises(IngestError, match=r"bomb\.docx: unpacks to more than .* bytes; refused"):
        load(path)


# Errors: each says which file and why


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", r"empty\.txt: the file has no text"),
        ("blank.md", b"  \n\t\n   \r\n", r"blank\.md: the file has no text"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", r"image\.txt: looks like a binary file"),
        ("broken.pdf", b"this is not a pdf \x01\x02\x03" * 20, r"broken\.pdf: not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", r"broken\.docx: not a readable DOCX"),
        ("empty.html", b"<html><script>only()</script></html>", r"empty\.html: the file has no text"),
        ("data.xyz", b"some text", r"data\.xyz: unsupported file type '\.xyz'; supported: \.md"),
        ("Makefile", b"all:\n", r"Makefile: unsupported file type '\(none\)'"),
    ],
)
def test_unreadable_files_raise_clear_ingest_errors(tmp_files: Path, name: str, content: bytes, message: str):
    path = tmp_files / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        load(path)


def test_missing_file_raises_ingest_error(tmp_files: Path):
    with pytest.raises(IngestError, match=r"nope\.txt: cannot read \(No such file"):
        load(tmp_files / "nope.txt")


def test_unreadable_file_raises_ingest_error(tmp_files: Path):
    # A socket stats fine but cannot be opened: the same path as a permission or I/O error on read.
    path = tmp_files / "socket.txt"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(IngestError, match=r"socket\.txt"):
            load(path)


def test_file_over_max_bytes_is_refused_before_reading(tmp_files: Path):
    path = tmp_files / "big.txt"
    path.write_text("word " * 1000, encoding="utf-8")
    with pytest.raises(IngestError, match=r"big\.txt: 5,000 bytes is over the limit of 4,999 bytes"):
        load(path, max_bytes=4999)
    assert load(path, max_bytes=5000).text.startswith("word")


def test_ingest_error_is_a_value_error():
    assert issubclass(IngestError, ValueError)


# Finding files


def test_find_files_expands_folders_to_supported_visible_files(tmp_files: Path):
    (tmp_files / "sub").mkdir()
    for name in ("a.md", "sub/b.TXT", "sub/c.pdf", "d.docx", "e.html", "skip.xyz", ".hidden.md", "noext"):
        (tmp_files / name).write_text("x", encoding="utf-8")
    found = find_files([tmp_files])
    assert [p.relative_to(tmp_files.resolve()).as_posix() for p in found] == [
        "a.md", "d.docx", "e.html", "sub/b.TXT", "sub/c.pdf",
    ]
    assert all(p.suffix.lower() in SUPPORTED_SUFFIXES for p in found)
    # an explicitly named file is taken whatever its suffix (load() then explains what is wrong)
    assert find_files([tmp_files / "skip.xyz", tmp_files / "a.md", tmp_files]) == sorted(
        {*found, (tmp_files / "skip.xyz").resolve()}
    )


def test_find_files_refuses_missing_paths(tmp_files: Path):
    with pytest.raises(IngestError, match=r"missing\.md: no such file or folder"):
        find_files([tmp_files, tmp_files / "missing.md"])


def test_find_files_skips_hidden_folders(tmp_files: Path):
    (tmp_files / ".obsidian").mkdir()
    (tmp_files / ".obsidian" / "workspace.md").write_text("editor state", encoding="utf-8")
    (tmp_files / "note.md").write_text("a note", encoding="utf-8")
    assert [p.name for p in find_files([tmp_files])] == ["note.md"]
