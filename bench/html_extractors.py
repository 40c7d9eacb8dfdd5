"""HTML extractors compared on the real manual pages in tests/data/real: fidelity checks and pages per second.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/html_extractors.py

Checks per page: a sentence with inline markup stored with its words joined as rendered, a <pre>
block stored verbatim with its line breaks, page chrome (navigation, footer) absent, section headings
kept as heading lines. Writes bench/results/html_extractors.json.
"""

from __future__ import annotations

import re
import time

from common import ROOT, machine, print_table, write_json

REAL = ROOT / "tests" / "data" / "real"
PAGES = {
    "gittutorial.html": {
        "joined": "you can get documentation for a command such as git log --graph with:",
        "code": '$ git config --global user.name "Your Name Comes Here"\n'
                "$ git config --global user.email you@yourdomain.example.com",
        "chrome": ["Last updated"], "headings": ["Importing a new project", "Making changes"],
    },
    "aptitude-basics.html": {
        "joined": "you can access aptitude's menus by pressing Control+t (also valid: Control+Space and F10)",
        "code": "foobar$ aptitude", "chrome": ["Prev", "Next", "Home", "Up"], "headings": ["aptitude basics"],
    },
}


def trafilatura_text(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, output_format="markdown", include_tables=True, include_links=False,
                               favor_recall=True) or ""


def markdownify_text(html: str) -> str:
    from markdownify import markdownify

    return markdownify(html, heading_style="ATX")


def loader_text(html: str) -> str:
    from ingest.html_loader import load_html

    return load_html("x.html", html, html.encode(), "x").text


EXTRACTORS = {"trafilatura (markdown)": trafilatura_text, "markdownify alone": markdownify_text,
              "loader (chrome dropped + markdownify)": loader_text}


def checks(expect: dict, text: str) -> dict:
    lines = {line.strip() for line in text.splitlines()}
    return {
        "words_joined": expect["joined"] in " ".join(text.split()),
        "code_verbatim": expect["code"] in text,
        "chrome_left": [c for c in expect["chrome"] if c in lines or f"[{c}]" in text],
        "headings_kept": sum(1 for h in expect["headings"] if any(re.fullmatch(rf"#+ {re.escape(h)}", ln)
                                                                 for ln in lines)),
    }


def main() -> None:
    rows, results = [], []
    for name, expect in PAGES.items():
        html = (REAL / name).read_text(encoding="utf-8")
        for label, extract in EXTRACTORS.items():
            runs = 20
            started = time.perf_counter()
            for _ in range(runs):
                text = extract(html)
            seconds = (time.perf_counter() - started) / runs
            result = {"page": name, "extractor": label, "pages_per_second": round(1 / seconds, 1),
                      **checks(expect, text)}
            results.append(result)
            rows.append([name, label, result["pages_per_second"], result["words_joined"], result["code_verbatim"],
                         ", ".join(result["chrome_left"]) or "none",
                         f"{result['headings_kept']}/{len(expect['headings'])}"])
    print_table(["page", "extractor", "pages/s", "words joined", "code verbatim", "chrome left", "headings"], rows,
                title="HTML extractors on real manual pages")
    write_json("html_extractors", {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
