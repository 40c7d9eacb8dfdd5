"""HTML: the page's main content, as a browser would render its words, in the Markdown shape the chunker reads.

Page chrome is dropped first: elements that are chrome by their tag (``nav``, ``header``, ``footer``,
``aside``, scripts, styles, forms) or by their ARIA role or class/id (navigation bars, "Prev / Next"
headers and footers of DocBook, tables of contents, sidebars, breadcrumbs, cookie banners). markdownify
then writes what is left as Markdown: ``#`` headings (sections), paragraphs, ``- `` list items, table
rows, and ``<pre>`` blocks verbatim between ``` fences (the chunker never splits those into sentences).
Inline markup (links, emphasis, inline code) is stripped, so its words join the text around them exactly
as a browser renders them ("iterators and generators", not "iterator s and generator s"). Paragraph text
is folded onto one line; code keeps its line breaks. Heading anchors come from the original page (``id``
of the heading, or of an ``<a>`` in it, or of its DocBook section), so a citation can open the page at
its section. ``bench/html_extractors.py`` compares this with trafilatura on real manual pages.
"""

from __future__ import annotations

import logging
import re
import textwrap

from ingest.records import Document, content_hash

log = logging.getLogger(__name__)

CHROME_TAGS = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe",
               "button", "select", "svg", "canvas", "object", "embed")
CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
# class or id words that mark chrome in the generators manuals come from (DocBook, Sphinx, asciidoc, MkDocs)
_CHROME_NAMES = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navheader|navfooter|docnav|navigation|toc|sidebar|sphinxsidebar|breadcrumbs?|menu|"
    r"footer|header|cookie|banner|related|skip|searchbox|headerlink)(?:[-_\s]|$)", re.IGNORECASE)
# DocBook's <sidebar> (a TIP or CAUTION box) is written as class="sidebar": content, unless it is mostly links
_CONTENT_SIDEBAR = re.compile(r"^\s*sidebar\s*$")
_INLINE = ["a", "b", "strong", "i", "em", "span", "img", "code", "tt", "kbd", "var", "samp", "abbr", "cite",
           "small", "big", "sub", "sup", "u", "s", "mark", "font", "q", "dfn", "time", "acronym"]
_SPACES = re.compile(r"\s+")
_FENCED = re.compile(r"(^[ \t]*```[^\n]*\n.*?^[ \t]*```[ \t]*$)", re.MULTILINE | re.DOTALL)
_TABLE_RULE = re.compile(r"^\|?(\s*:?-{3,}:?\s*\|)+\s*$")


def load_html(source: str, text: str, data: bytes, fallback_title: str) -> Document:
    import lxml.html

    if not text.strip():
        return Document(source, "", fallback_title, content_hash=content_hash(data))
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    tree = lxml.html.document_fromstring(text.encode("utf-8"), parser=parser)
    title = " ".join((tree.findtext(".//title") or "").split())
    anchors = _anchors(tree)
    _drop_chrome(tree)
    body = tree.find("body")
    markdown = _markdown(lxml.html.tostring(body if body is not None else tree, encoding="unicode"))
    return Document(source, "\n\n".join(_blocks(markdown)), title or fallback_title, content_hash=content_hash(data),
                    anchors=tuple(anchors.items()))


def _drop_chrome(tree) -> None:
    chrome = tree.xpath("//" + " | //".join(CHROME_TAGS))
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("html", "body", "pre", "code"):
            continue
        names = f"{element.get('class', '')} {element.get('id', '')}"
        by_name = _CHROME_NAMES.search(names) is not None and not _is_content_sidebar(element)
        if element.get("role", "").lower() in CHROME_ROLES or by_name \
                or element.get("hidden") is not None or element.get("aria-hidden") == "true":
            chrome.append(element)
    for element in chrome:
        if element.getparent() is not None:
            element.drop_tree()


def _is_content_sidebar(element) -> bool:
    """A DocBook sidebar box (class exactly "sidebar", no id) of prose rather than links."""
    if not _CONTENT_SIDEBAR.match(element.get("class", "")) or element.get("id"):
        return False
    text = len(" ".join(element.text_content().split()))
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return text > 0 and linked / text < 0.5


def _markdown(html: str) -> str:
    from markdownify import markdownify

    return markdownify(html, heading_style="ATX", strip=_INLINE, bullets="-", escape_asterisks=False,
                       escape_underscores=False, escape_misc=False, code_language="")


def _blocks(markdown: str) -> list[str]:
    """Markdownify's output as blocks: code verbatim, tables as rows, lists as items, paragraphs on one line."""
    blocks: list[str] = []
    for part in _FENCED.split(markdown):
        if part.lstrip(" \t").startswith("```"):  # indented: a <pre> in a list item or a <dd>
            inner = textwrap.dedent(part.split("\n", 1)[1].rsplit("```", 1)[0]).strip("\n")
            if inner.strip():
                blocks.append(f"```\n{inner}\n```")
            continue
        for block in re.split(r"\n[ \t]*\n", part):
            shaped = _shape(block)
            if shaped:
                blocks.append(shaped)
    return blocks


def _shape(block: str) -> str:
    lines = [line for line in block.split("\n") if line.strip()]
    if not lines:
        return ""
    if lines[0].lstrip().startswith("#"):
        return _SPACES.sub(" ", " ".join(lines)).strip()
    if all(line.lstrip().startswith("|") for line in lines):
        rows = [" | ".join(c.strip() for c in line.strip().strip("|").split("|") if c.strip()) for line in lines
                if not _TABLE_RULE.match(line.strip())]
        return "\n".join(r for r in rows if r)
    if re.match(r"\s*(?:[-*+]|\d+[.)])\s", lines[0]):
        items: list[str] = []
        for line in lines:
            if re.match(r"\s*(?:[-*+]|\d+[.)])\s", line) or not items:
                items.append(_SPACES.sub(" ", line).strip())
            else:  # a wrapped line of the item above
                items[-1] += " " + _SPACES.sub(" ", line).strip()
        return "\n".join(items)
    return _SPACES.sub(" ", " ".join(lines)).strip()


def _anchors(tree) -> dict[str, str]:
    """Heading text -> the anchor a link can open it at (first heading of a text wins)."""
    found: dict[str, str] = {}
    for heading in tree.xpath("//h1 | //h2 | //h3 | //h4 | //h5 | //h6"):
        words = " ".join(heading.text_content().split())
        anchor = heading.get("id") or next((a.get("id") or a.get("name") for a in heading.iter("a")
                                            if a.get("id") or a.get("name")), None)
        if anchor is None:
            parent = heading.getparent()
            anchor = parent.get("id") if parent is not None and parent.get("class", "").startswith("sect") else None
        if words and anchor and words not in found:
            found[words] = anchor
    return found
