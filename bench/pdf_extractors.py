"""PDF extractors compared on the real manuals in tests/data/real: fidelity checks and pages per second.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/pdf_extractors.py

Checks per extractor and file: glued "words" (25 letters or more), known sentences found on their
page, line-break marks left inside words, running headers left in the text. Writes
bench/results/pdf_extractors.json.
"""

from __future__ import annotations

import io
import itertools
import re
import time

from common import ROOT, machine, print_table, write_json

REAL = ROOT / "tests" / "data" / "real"
KNOWN = {  # sentence -> page it is printed on (checked by tests/test_real_documents.py)
    "libtasn1.pdf": {"The SIZE constraints are allowed, but no check is done on them.": 6,
                     "The header file of this library is libtasn1.h.": 7},
    "auto-multiple-choice.en.pdf": {"Writing a questionnaire in Arabic is a little special.": 20,
                                    "You can include other files with:": 20},
}
HEADERS = {"libtasn1.pdf": r"Chapter \d+: [^\n]* \d+",
           "auto-multiple-choice.en.pdf": r"Auto Multiple Choice [ivxlcdm\d]+"}


def pypdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def pdfplumber_pages(data: bytes) -> list[str]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def pdfium_pages(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]


def loader_pages(data: bytes) -> list[str]:
    """The product's loader (pypdfium2 plus repairs), split back into pages by its page offsets."""
    from ingest.pdf_loader import load_pdf

    doc = load_pdf("x.pdf", data, "x")
    starts = [*doc.page_starts, (len(doc.text) + 2, 0)]
    pages = [""] * (max(p for _, p in doc.page_starts) + 1)
    for (start, page), (end, _) in itertools.pairwise(starts):
        pages[page - 1] = doc.text[start : end - 2]
    return pages


EXTRACTORS = {"pypdf": pypdf_pages, "pdfplumber": pdfplumber_pages, "pypdfium2 (raw)": pdfium_pages,
              "loader (pypdfium2 + repairs)": loader_pages}


def checks(name: str, pages: list[str]) -> dict:
    text = "\n".join(pages)
    flat = [" ".join(p.split()) for p in pages]
    found = sum(1 for s, page in KNOWN[name].items() if page <= len(flat) and s in flat[page - 1])
    return {
        "glued_words": len(re.findall(r"\b[^\W\d_]{25,}\b", text)),
        "known_sentences_on_their_page": f"{found}/{len(KNOWN[name])}",
        "break_marks_in_words": len(re.findall(r"\w[\x02\ufffe\u00ad]", text)),
        "running_header_lines": len(re.findall(rf"(?m)^{HEADERS[name]}\s*$", text)),
    }


def main() -> None:
    rows, results = [], []
    for name in KNOWN:
        data = (REAL / name).read_bytes()
        for label, extract in EXTRACTORS.items():
            started = time.perf_counter()
            pages = extract(data)
            seconds = time.perf_counter() - started
            result = {"file": name, "extractor": label, "pages": len(pages), "seconds": round(seconds, 3),
                      "pages_per_second": round(len(pages) / seconds, 1), **checks(name, pages)}
            results.append(result)
            rows.append([name, label, result["pages_per_second"], result["glued_words"],
                         result["known_sentences_on_their_page"], result["break_marks_in_words"],
                         result["running_header_lines"]])
    print_table(["file", "extractor", "pages/s", "glued words", "known sentences", "break marks", "headers"], rows,
                title="PDF extractors on real manuals")
    write_json("pdf_extractors", {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
