"""Real manuals from Debian documentation packages (tests/data/real) loaded faithfully: words joined as
rendered, code verbatim, no page chrome, pages and headings right; and citations that open the source."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.loaders import load
from ingest.records import Document
from tests.conftest import CORPUS
from tests.test_hostile_files import rewritten_docx

REAL = Path(__file__).parent / "data" / "real"
GIT = REAL / "gittutorial.html"
APTITUDE = REAL / "aptitude-basics.html"
TASN1 = REAL / "libtasn1.pdf"
AMC = REAL / "auto-multiple-choice.en.pdf"


def _offsets_hold(doc: Document) -> None:
    for chunk in chunk_document(doc):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        for start, end in chunk.sentences:
            assert chunk.start <= start < end <= chunk.end


def _sentences(doc: Document) -> list[str]:
    return [s for c in chunk_document(doc) for s in c.sentence_texts()]


# ---------------------------------------------------------------- HTML


def test_html_words_join_as_rendered_and_code_blocks_stay_verbatim():
    doc = load(GIT)
    assert doc.title == "gittutorial(7)"
    # inline <code> and <em> join the words around them, with no space added or lost
    assert "you can get documentation for a command such as git log --graph with:" in doc.text
    assert "(note the .), with git add:" in doc.text
    block = ('$ git config --global user.name "Your Name Comes Here"\n'
             "$ git config --global user.email you@yourdomain.example.com")
    assert f"```\n{block}\n```" in doc.text
    assert block in _sentences(doc), "a code block is one unit, never split into sentences"
    assert "$ tar xzf project.tar.gz\n$ cd project\n$ git init" in _sentences(doc)
    _offsets_hold(doc)


def test_html_chrome_stays_out_and_headings_become_sections_with_anchors():
    git, aptitude = load(GIT), load(APTITUDE)
    assert "Last updated" not in git.text, "the page footer"
    for chrome in ("Prev", "Next", "Up", "Home", "Chapter 1. Getting started"):  # DocBook's navigation header/footer
        assert not re.search(rf"(^|\n){re.escape(chrome)}(\n|$)", aptitude.text), chrome
    assert "```\nfoobar$ aptitude\n```" in aptitude.text, "the prompt and the command of one <pre> stay together"
    chunks = chunk_document(git)
    sections = {c.section: c.metadata.get("anchor") for c in chunks}
    assert sections["Importing a new project"] == "_importing_a_new_project"
    assert sections["Making changes"] == "_making_changes"
    assert chunk_document(aptitude)[0].section == "aptitude basics"
    assert dict(aptitude.anchors)["aptitude basics"]
    _offsets_hold(aptitude)


# ---------------------------------------------------------------- PDF


def test_docbook_tip_boxes_are_content_and_publican_page_navigation_is_chrome():
    handbook = Path(__file__).parent.parent / "benchmarks" / "handbook-html" / "docs" / "sect.virtualization.html"
    text = load(handbook).text
    assert "HARDWARE Virtualization support" in text, "a DocBook sidebar (TIP, CULTURE ...) box is prose"
    assert "Prev" not in text and "Up Home" not in text.replace("\n", " "), "the docnav links are chrome"


def test_pdf_words_keep_their_spaces_and_running_headers_go():
    tasn1, amc = load(TASN1), load(AMC)
    for doc in (tasn1, amc):
        glued = re.findall(r"\b[^\W\d_]{25,}\b", doc.text)
        assert len(glued) <= 1, glued[:5]
        _offsets_hold(doc)
    assert not re.search(r"(^|\n)Chapter \d+: [^\n]* \d+(\n|$)", tasn1.text), "libtasn1's running chapter header"
    assert not re.search(r"(^|\n)Auto Multiple Choice [ivxlcdm\d]+(\n|$)", amc.text), "AMC's running header"
    assert not re.search(r"(\. ){4,}\d+", amc.text), "table-of-contents lines"
    assert "It doesn’t support the AUTOMATIC TAGS option, and the EXPORT and IMPORT sections, either." in tasn1.text


@pytest.mark.parametrize(("path", "sentence", "page"), [
    (TASN1, "The SIZE constraints are allowed, but no check is done on them.", 6),
    (TASN1, "The header file of this library is libtasn1.h.", 7),
    (AMC, "Writing a questionnaire in Arabic is a little special.", 20),
    (AMC, "You can include other files with:", 20),
])
def test_pdf_sentences_are_on_their_printed_page(path, sentence, page):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    printed = " ".join(pdf[page - 1].get_textpage().get_text_bounded().split())
    assert sentence in printed, "the expected page really holds the sentence"
    doc = load(path)
    at = doc.text.index(sentence)
    [chunk] = [c for c in chunk_document(doc) if c.start <= at < c.end][:1]
    assert chunk.page_at(at) == page


def test_pdf_outline_headings_start_sections():
    sections = {c.section for c in chunk_document(load(TASN1))}
    assert {"2.2 Naming", "2.3 Simple parsing", "2.4 Library Notes"} <= sections


def test_pdf_hyphenated_line_ends_are_joined_where_the_word_is_known(tmp_files):
    from tests.test_loaders import make_pdf

    pdf = tmp_files / "hyphens.pdf"
    pdf.write_bytes(make_pdf(["Careful manage-\nment of the store matters.\nUse the command-\nline tool daily.",
                              "A command-line switch helps."]))
    text = load(pdf).text
    assert "Careful management of the store matters." in text, "a word broken at the line end is made whole"
    assert "Use the command-line tool daily." in text, "the document writes command-line: the hyphen stays"
    assert "\x02" not in text


def test_real_pdfs_keep_no_line_break_marks_inside_words():
    for path in (TASN1, AMC):
        text = load(path).text
        assert "\x02" not in text and "\ufffe" not in text
    tasn1 = load(TASN1).text
    assert "manipulation" in tasn1 and "manip-ulation" not in tasn1


def test_a_pdf_page_without_text_is_a_warning_not_a_failure(tmp_files):
    from tests.test_loaders import make_pdf

    pdf = tmp_files / "gap.pdf"
    pdf.write_bytes(make_pdf(["The first page has words.", "", "The third page has words too."]))
    doc = load(pdf)
    assert doc.warnings == ("page 2 has no text (a scan or an image?)",)
    assert [page for _, page in doc.page_starts] == [1, 3]


# ---------------------------------------------------------------- DOCX


def _docx_with_table_and_footnote(path: Path) -> Path:
    """python-docx writes headings and a table; the footnote part is added as Word writes it."""
    import docx

    document = docx.Document()
    document.add_heading("Leave policy", 1)
    document.add_paragraph("Staff get 25 days of annual leave.")
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Grade", (0, 1): "Days", (1, 0): "Senior", (1, 1): "30"}.items():
        table.cell(r, c).text = text
    document.add_heading("Sick leave", 2)
    document.add_paragraph("Report sickness before 9 am.")
    buffer = io.BytesIO()
    document.save(buffer)
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    notes = (f'<w:footnotes xmlns:w="{w}"><w:footnote w:type="separator" w:id="-1"><w:p/></w:footnote>'
             f'<w:footnote w:id="1"><w:p><w:r><w:t>Part-time staff get a pro-rata share.</w:t></w:r></w:p>'
             f"</w:footnote></w:footnotes>")
    rel = ('<Relationship Id="rIdNotes" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
           'footnotes" Target="footnotes.xml"/>')
    override = ('<Override PartName="/word/footnotes.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.wordprocessingml.footnotes+xml"/>')
    parts = {"word/_rels/document.xml.rels": (b"</Relationships>", rel.encode() + b"</Relationships>"),
             "[Content_Types].xml": (b"</Types>", override.encode() + b"</Types>")}
    return rewritten_docx(path, parts, add={"word/footnotes.xml": notes}, source=buffer.getvalue())


def test_docx_headings_tables_and_footnotes(tmp_files):
    doc = load(_docx_with_table_and_footnote(tmp_files / "policy.docx"))
    assert doc.text == ("# Leave policy\n\nStaff get 25 days of annual leave.\n\nGrade | Days\nSenior | 30\n\n"
                        "## Sick leave\n\nReport sickness before 9 am.\n\n# Footnotes\n\n"
                        "Footnote 1: Part-time staff get a pro-rata share.")
    assert {c.section for c in chunk_document(doc)} == {"Leave policy", "Sick leave", "Footnotes"}
    _offsets_hold(doc)


def test_markdown_offsets_are_still_into_the_file_itself():
    doc = load(CORPUS)
    assert doc.text == CORPUS.read_bytes().decode("utf-8-sig")


# ---------------------------------------------------------------- citations that open the source


@pytest.mark.slow
def test_citations_link_to_the_page_or_section_and_the_link_serves_the_original(make_assistant, tmp_path):
    from assistant.interfaces.api import create_api
    from assistant.interfaces.serving import ServedAssistant
    from tests.serving_helpers import start

    bot = make_assistant()
    report = bot.ingest([GIT, TASN1])
    assert not report.failed
    pdf_answer = bot.ask("Which header file does libtasn1 use?")
    [cited] = [c for c in pdf_answer.citations if c.source.endswith("libtasn1.pdf")][:1]
    assert cited.page == 7 and cited.link.endswith("#page=7")
    html_answer = bot.ask("How do I place my tarball project under Git revision control?")
    [html_cited] = [c for c in html_answer.citations if c.source.endswith("gittutorial.html")][:1]
    assert html_cited.link.endswith("#_importing_a_new_project")
    served = ServedAssistant(bot)
    server = start(create_api(served), served)
    try:
        with server.client() as client:
            pdf = client.get(cited.link.split("#")[0])
            page = client.get(html_cited.link.split("#")[0])
            infos = {s["name"]: s for s in client.get("/api/sources").json()}
            missing = client.get("/api/sources/nosuchid/file")
    finally:
        server.stop()
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == TASN1.read_bytes()
    assert page.headers["content-type"].startswith("text/html") and "sandbox" in page.headers["content-security-policy"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert infos["libtasn1.pdf"]["kind"] == ".pdf" and infos["libtasn1.pdf"]["pages"] == 36
    assert infos["gittutorial.html"]["sections"] >= 5 and infos["gittutorial.html"]["pages"] is None


def _two_column_pdf(path: Path) -> Path:
    """One page whose content stream interleaves the lines of two columns, as some generators write them."""
    left = ["The left column starts here and", "continues on its second line and", "ends on the third line."]
    right = ["The right column begins here and", "goes on with a second line and", "finishes on its third line."]
    ops = " ".join(["BT /F1 10 Tf", *(f"1 0 0 1 {x} {720 - 14 * i} Tm ({text}) Tj" for i, pair in
                                      enumerate(zip(left, right, strict=True)) for x, text in zip((72, 320), pair,
                                                                                                  strict=True)), "ET"])
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
               "/Contents 5 0 R >>", f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream"]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def test_a_two_column_page_is_read_a_column_at_a_time(tmp_files):
    text = load(_two_column_pdf(tmp_files / "columns.pdf")).text
    assert text == ("The left column starts here and continues on its second line and ends on the third line.\n\n"
                    "The right column begins here and goes on with a second line and finishes on its third line.")
