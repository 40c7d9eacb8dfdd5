"""Chunking: exact offsets, sections that follow headings, bounded size and overlap, content-hash ids."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import (
    FRONT_MATTER_SECTION,
    LEAD_SECTION,
    ChunkingConfig,
    chunk_document,
    sentence_spans,
)
from ingest.loaders import load
from ingest.records import Chunk, Document, chunk_id
from tests.conftest import CORPUS, ROOT

ARTICLE_HEADINGS = [
    "Demonstrating Political Ownership",
    "Setting Shared Objectives",
    "Reducing the Poisoning Effects of Disagreements",
    "The Glass Is Half Full",
]
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def article():
    return load(CORPUS)


@pytest.fixture(scope="module")
def article_chunks(article):
    return chunk_document(article)


def assert_well_formed(doc: Document, chunks: list[Chunk], config: ChunkingConfig) -> None:
    """The promises every chunk keeps, whatever the document."""
    assert len({c.id for c in chunks}) == len(chunks), "duplicate chunk ids"
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.id == chunk_id(doc.source, chunk.text, chunk.start)
        assert chunk.source == doc.source and chunk.title == doc.title
        assert 0 < len(chunk.text) <= config.chunk_size
        assert chunk.text == chunk.text.strip()
        assert chunk.sentences, "a chunk without sentences"
        assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
        for (s, e), text in zip(chunk.sentences, chunk.sentence_texts(), strict=True):
            assert chunk.start <= s < e <= chunk.end
            assert text == doc.text[s:e] and text == text.strip() and text
        for (_, e1), (s2, _) in pairwise(chunk.sentences):
            assert e1 <= s2, f"sentences overlap or are out of order: {chunk.sentences}"
    for a, b in pairwise(chunks):
        if a.section == b.section:
            assert a.start < b.start and a.end < b.end, "chunks of a section go forward"
            repeated = a.end - b.start
            assert repeated <= config.overlap, f"{repeated} characters repeated, overlap is {config.overlap}"
            if repeated > 0:  # the overlap is whole sentences of the previous chunk
                assert b.start in {s for s, _ in a.sentences}


# The bundled article


def test_article_chunks_are_well_formed(article, article_chunks):
    assert len(article_chunks) > 10
    assert_well_formed(article, article_chunks, ChunkingConfig())


def test_article_sections_follow_its_headings_in_order(article_chunks):
    order = list(dict.fromkeys(c.section for c in article_chunks))
    assert order == [FRONT_MATTER_SECTION, LEAD_SECTION, *ARTICLE_HEADINGS]
    assert LEAD_SECTION == "Introduction"
    assert [c.start for c in article_chunks] == sorted(c.start for c in article_chunks)


def test_article_chunks_never_cross_a_heading(article, article_chunks):
    heading_starts = [m.start() for m in re.finditer(r"^#{1,6} .*$", article.text, re.MULTILINE)]
    assert len(heading_starts) == len(ARTICLE_HEADINGS)
    for chunk in article_chunks:
        assert not any(chunk.start <= h < chunk.end for h in heading_starts), chunk.section
        assert "\n#" not in chunk.text
        if chunk.section in ARTICLE_HEADINGS:
            heading_at = article.text.index(f"## {chunk.section}\n")
            next_headings = [h for h in heading_starts if h > heading_at]
            assert heading_at < chunk.start < (next_headings[0] if next_headings else len(article.text))


def test_front_matter_is_its_own_cited_section(article, article_chunks):
    front = [c for c in article_chunks if c.section == FRONT_MATTER_SECTION]
    assert len(front) == 1
    assert front[0].text.startswith("title: Making the New U.S.-Turkey Strategic Mechanism Meaningful")
    assert "author: Alper Coşkun" in front[0].text
    assert "---" not in front[0].text
    assert article_chunks[0] is front[0]
    assert all("author: Alper" not in c.text for c in article_chunks[1:])


def test_author_bio_block_stays_in_the_introduction(article_chunks):
    # "Alper Coşkun\nAlper Coşkun is a senior fellow ...\nMore >" sits between two lead paragraphs.
    for marker in ("Alper Coşkun\nAlper Coşkun is a senior fellow", "More >", "Turkish and American sources talk"):
        holding = [c for c in article_chunks if marker in c.text]
        assert holding, f"{marker!r} is in no chunk"
        assert {c.section for c in holding} == {LEAD_SECTION}, marker
    assert not {c.section for c in article_chunks} & {"Alper Coşkun", "More >", "More"}
    # the bio's lines are sentences of their own: a quote never runs from the byline into the bio
    for chunk in article_chunks:
        if "Alper Coşkun\nAlper" in chunk.text:
            assert "Alper Coşkun" in chunk.sentence_texts()
        if "More >" in chunk.text:
            assert "More >" in chunk.sentence_texts()


def test_every_word_of_the_article_body_is_in_a_chunk(article, article_chunks):
    covered = [False] * len(article.text)
    for chunk in article_chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    body = article.text.split("\n---\n", 1)[1]
    offset = len(article.text) - len(body)
    for match in re.finditer(r"\S+", body):
        line_start = body.rfind("\n", 0, match.start()) + 1
        if body.startswith("#", line_start):
            continue  # heading lines are the sections' names, not chunk text
        assert all(covered[offset + match.start() : offset + match.end()]), match.group()


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (120, 40), (300, 100), (800, 150), (4000, 1000)])
def test_article_respects_chunk_size_and_overlap(article, size, overlap):
    config = ChunkingConfig(chunk_size=size, overlap=overlap)
    chunks = chunk_document(article, config)
    assert_well_formed(article, chunks, config)
    assert max(len(c.text) for c in chunks) <= size


def test_overlap_repeats_text_only_when_asked(article):
    overlapping = chunk_document(article, ChunkingConfig(chunk_size=400, overlap=150))
    pairs = [(a, b) for a, b in pairwise(overlapping) if a.section == b.section]
    assert any(a.end > b.start for a, b in pairs), "overlap > 0 but no chunk repeats its predecessor's tail"
    flat = chunk_document(article, ChunkingConfig(chunk_size=400, overlap=0))
    flat_pairs = [(a, b) for a, b in pairwise(flat) if a.section == b.section]
    assert all(a.end <= b.start for a, b in flat_pairs)


# Ids


def test_ids_are_content_hashes_of_source_offset_and_text():
    doc = Document("/docs/a.md", "One sentence here. Another sentence there.", "A")
    [chunk] = chunk_document(doc)
    assert chunk.id == chunk_id("/docs/a.md", chunk.text, chunk.start)
    assert re.fullmatch(r"[0-9a-f]{32}", chunk.id)
    again = chunk_document(Document("/docs/a.md", doc.text, "Another title"))
    assert [c.id for c in again] == [chunk.id]
    other_source = chunk_document(Document("/docs/b.md", doc.text, "A"))
    assert other_source[0].id != chunk.id
    moved = chunk_document(Document("/docs/a.md", "# New\n\n" + doc.text, "A"))
    assert moved[-1].text == chunk.text and moved[-1].id != chunk.id, "moved text is a new chunk with new offsets"


def test_sections_keep_their_ids_when_a_later_section_changes_and_get_new_ones_when_they_move():
    before = "# One\n\nAlpha text stays the same.\n\n# Two\n\nBeta text is the old version.\n"
    after = "# Zero\n\nA brand new section.\n\n" + before.replace("old version", "new version")
    ids_before = {c.section: c.id for c in chunk_document(Document("/d.md", before, "D"))}
    ids_after = {c.section: c.id for c in chunk_document(Document("/d.md", after, "D"))}
    # same text at other offsets: a new id, so the stored chunk never keeps offsets that no longer hold
    assert ids_after["One"] != ids_before["One"]
    assert ids_after["Two"] != ids_before["Two"]
    edited_below = before.replace("old version", "new version")
    ids_edited = {c.section: c.id for c in chunk_document(Document("/d.md", edited_below, "D"))}
    assert ids_edited["One"] == ids_before["One"] and ids_edited["Two"] != ids_before["Two"]


def test_ids_are_the_same_in_a_fresh_process_with_another_hash_seed(article_chunks):
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from ingest.loaders import load; from ingest.chunking import chunk_document;"
        "print(json.dumps([c.id for c in chunk_document(load(sys.argv[2]))]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", script, str(ROOT), str(CORPUS)],
                            capture_output=True, text=True, env=env, check=True, timeout=120)
    assert json.loads(result.stdout) == [c.id for c in article_chunks]


# Sizes and config


def test_a_long_token_is_cut_hard_at_chunk_size_and_nothing_is_lost():
    token = "".join(hashlib.sha256(bytes([i])).hexdigest() for i in range(4))[:230]  # no repeating piece
    doc = Document("/t.txt", f"Short start. {token} short end.", "T")
    config = ChunkingConfig(chunk_size=100, overlap=0)
    chunks = chunk_document(doc, config)
    assert_well_formed(doc, chunks, config)
    assert len(chunks) == 4
    assert token in "".join(c.text for c in chunks)


def test_a_long_sentence_is_split_at_spaces():
    words = " ".join(f"word{i}" for i in range(60)) + "."
    doc = Document("/t.txt", words, "T")
    config = ChunkingConfig(chunk_size=80, overlap=20)
    chunks = chunk_document(doc, config)
    assert len(chunks) > 1
    assert_well_formed(doc, chunks, config)
    pieces = [t for c in chunks for t in c.text.split()]
    assert [p for p in dict.fromkeys(pieces)] == words.split()  # no word cut in half or lost


def test_sections_without_text_make_no_chunks():
    doc = Document("/t.md", "# Empty\n\n## Also empty\n\n### Full\n\nText.\n", "T")
    chunks = chunk_document(doc)
    assert [(c.section, c.text) for c in chunks] == [("Full", "Text.")]


def test_hash_signs_that_are_not_headings_stay_in_the_text():
    doc = Document("/t.md", "Intro line.\n\n#hashtag is not a heading.\n\n####### seven is not either.\n", "T")
    chunks = chunk_document(doc)
    assert {c.section for c in chunks} == {LEAD_SECTION}
    assert "#hashtag is not a heading." in chunks[0].text
    assert "####### seven is not either." in chunks[0].text


def test_single_line_breaks_end_sentences():
    assert [(s, e) for s, e in sentence_spans("Headline\nBy a writer\nBody text. More.")] == [
        (0, 8), (9, 20), (21, 31), (32, 37)
    ]
    assert sentence_spans("  padded.  ", offset=10) == [(12, 19)]


@pytest.mark.parametrize(("size", "overlap"), [(49, 0), (10, 0), (100, 50), (100, 60), (100, -1), (51, 25)])
def test_chunking_config_rejects_bad_values(size, overlap):
    with pytest.raises(ValueError):
        ChunkingConfig(chunk_size=size, overlap=overlap)


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (50, 24), (100, 49), (800, 150)])
def test_chunking_config_accepts_good_values(size, overlap):
    assert ChunkingConfig(chunk_size=size, overlap=overlap).chunk_size == size


def test_default_config_is_valid():
    config = ChunkingConfig()
    assert 0 <= config.overlap < config.chunk_size // 2


@pytest.mark.xfail(strict=True, reason="pysbd char spans drop trailing '!!'/'?!' runs and give overlapping "
                                         "spans for '....' (ingest/chunking.py sentence_spans)")
@pytest.mark.parametrize("text", ["The end. !!", "Is it true? ?!", "It was late ....  Gamma rays came."],
                         ids=["double-bang", "question-bang", "four-dots"])
def test_sentence_spans_are_disjoint_and_lose_no_text(text):
    spans = sentence_spans(text)
    assert all(e1 <= s2 for (_, e1), (s2, _) in pairwise(spans)), spans
    covered = {i for s, e in spans for i in range(s, e)}
    assert [ch for i, ch in enumerate(text) if not ch.isspace() and i not in covered] == []


# pysbd marks up the text it segments with these symbols; the same symbols in a document confuse it.
PYSBD_PLACEHOLDERS = "∯♟♝♨☝ƪᓴᓷ✂☏☉☈☇☄∮ȹȸ⎋⌬ᓸᓳᓱᓰ♭♬"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("# Symphony No. 3\n\nThe symphony is in E♭ major. It premiered in Vienna in 1805.\n",
         "The symphony is in E♭ major."),
        ("Point up ☝ to see the comet tonight. Weather permitting.", "Point up ☝ to see the comet tonight."),
        ("Track two ♬ is the single. It charted.", "Track two ♬ is the single."),
    ],
    ids=["flat-sign", "pointing-up", "music-notes"],
)
def test_sentences_with_pysbd_placeholder_symbols_are_kept(text, sentence):
    chunks = chunk_document(Document("/docs/music.md", text, "Music"))
    assert any(sentence in c.sentence_texts() for c in chunks), [c.text for c in chunks]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("A bare repository is a directory with a .git suffix and no working tree. Publishers share them.",
         ["A bare repository is a directory with a .git suffix and no working tree.", "Publishers share them."]),
        ("Edit the .bashrc file. Then log in again.", ["Edit the .bashrc file.", "Then log in again."]),
        ("It ends here. .hidden files are skipped.", ["It ends here.", ".hidden files are skipped."]),
        ("Use a simple command: apt install ./path-to-the-package.deb. The leading ./ is important.",
         ["Use a simple command: apt install ./path-to-the-package.deb.", "The leading ./ is important."]),
        ("Copy ~/.ssh/id_rsa.pub to the server. Run ../configure first.",
         ["Copy ~/.ssh/id_rsa.pub to the server.", "Run ../configure first."]),
    ],
    ids=["dot-git", "dotfile", "dot-word-after-a-sentence", "dot-slash-path", "home-and-parent-paths"],
)
def test_a_word_that_starts_with_a_dot_ends_no_sentence(text, sentences):
    assert [text[a:b] for a, b in sentence_spans(text)] == sentences


# Property tests on generated Markdown


@dataclass
class Generated:
    text: str
    # (start, end, expected section) of each paragraph's text, and of the front matter's body
    regions: list[tuple[int, int, str]]
    headings: list[int]  # start offset of every heading line


_WORDS = ["alpha", "beta", "Gamma", "delta", "U.S.", "Dr.", "e.g.", "3.5", "(note)", "“quoted”", "x",
          "mechanism", "Turkey's", "a", "…", "i.e.", "Mr.", "No.", "1.", "A.", "İstanbul", "naïve", "50%"]
# Random words avoid . ? ! and pysbd's placeholder symbols (pysbd quirks, see the xfails above),
# '#' (headings) and '-' (front matter fences).
_word = st.one_of(
    st.sampled_from(_WORDS),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                          exclude_characters=".?!#-" + PYSBD_PLACEHOLDERS), min_size=1, max_size=12),
)
_sentence = st.builds(lambda ws, end: " ".join(ws) + end, st.lists(_word, min_size=1, max_size=25),
                      st.sampled_from([".", "?", "!", "", '."', ":", "…"]))
_paragraph = st.builds(lambda ss, sep: sep.join(ss), st.lists(_sentence, min_size=1, max_size=8),
                       st.sampled_from([" ", "  ", "\n", " \n"]))
_heading = st.tuples(st.integers(1, 6), st.lists(st.sampled_from(_WORDS[:4] + _WORDS[11:14]), min_size=1, max_size=4))
_block = st.one_of(st.tuples(st.just("p"), _paragraph), st.tuples(st.just("h"), _heading))


@st.composite
def markdown_documents(draw) -> Generated:
    blocks = draw(st.lists(_block, min_size=1, max_size=12))
    separator = draw(st.sampled_from(["\n\n", "\n\n\n", "\n \n"]))
    text, regions, headings = "", [], []
    if draw(st.booleans()):
        body = f"title: {draw(_paragraph).splitlines()[0]}\nauthor: Some Writer"
        text = f"---\n{body}\n---\n\n"
        regions.append((4, 4 + len(body), FRONT_MATTER_SECTION))
    section = LEAD_SECTION
    for i, (kind, value) in enumerate(blocks):
        if i:
            text += separator
        if kind == "h":
            level, words = value
            section = " ".join(words)
            headings.append(len(text))
            text += "#" * level + " " + section
        else:
            regions.append((len(text), len(text) + len(value), section))
            text += value
    return Generated(text + "\n", regions, headings)


_configs = st.integers(50, 600).flatmap(
    lambda size: st.builds(ChunkingConfig, chunk_size=st.just(size), overlap=st.integers(0, size // 2 - 1))
)


@PROPERTY_SETTINGS
@given(markdown_documents(), _configs)
def test_property_chunks_are_well_formed(generated: Generated, config: ChunkingConfig):
    doc = Document("/gen/doc.md", generated.text, "Generated")
    chunks = chunk_document(doc, config)
    assert_well_formed(doc, chunks, config)


@PROPERTY_SETTINGS
@given(markdown_documents(), _configs)
def test_property_chunks_stay_inside_one_section(generated: Generated, config: ChunkingConfig):
    doc = Document("/gen/doc.md", generated.text, "Generated")
    for chunk in chunk_document(doc, config):
        assert not any(chunk.start <= h < chunk.end for h in generated.headings), "chunk crosses a heading"
        owners = [sec for start, end, sec in generated.regions if start <= chunk.start < end]
        assert owners, f"chunk starts outside every paragraph: {chunk}"
        assert chunk.section == owners[0]


@PROPERTY_SETTINGS
@given(markdown_documents(), _configs)
def test_property_no_text_is_lost(generated: Generated, config: ChunkingConfig):
    doc = Document("/gen/doc.md", generated.text, "Generated")
    chunks = chunk_document(doc, config)
    covered = [False] * len(doc.text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
        # A chunk whose text repeats elsewhere in the document is stored once (same id):
        # the repeat counts as covered, since its exact text is in the index.
        at = doc.text.find(chunk.text)
        while at != -1:
            covered[at : at + len(chunk.text)] = [True] * len(chunk.text)
            at = doc.text.find(chunk.text, at + 1)
    for start, end, section in generated.regions:
        lost = [i for i in range(start, end) if not doc.text[i].isspace() and not covered[i]]
        assert not lost, f"lost {doc.text[lost[0]:lost[-1] + 1]!r} of section {section!r}"


@PROPERTY_SETTINGS
@given(markdown_documents())
def test_property_chunking_is_deterministic(generated: Generated):
    doc = Document("/gen/doc.md", generated.text, "Generated")
    assert chunk_document(doc) == chunk_document(doc)


def test_hard_wrapped_prose_is_read_as_sentences_across_its_line_breaks():
    from ingest.chunking import sentence_spans

    text = ("-n, --numeric-sort\n       compare according to string numerical value\n"
            "title: A report\nauthor: Someone\nNAME\n       sort - sort lines of text files\n"
            "- one item\n- another item\nThe tail keeps following the file even if it has\n"
            "been unlinked or renamed. Next sentence.")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert "-n, --numeric-sort\n       compare according to string numerical value" in sentences
    assert "The tail keeps following the file even if it has\nbeen unlinked or renamed." in sentences
    for line in ("title: A report", "author: Someone", "NAME", "- one item", "- another item"):
        assert line in sentences, "fields, headings in capitals and list items stay lines of their own"


def test_an_option_over_its_indented_description_is_quoted_with_it():
    from ingest.chunking import sentence_spans

    text = ("       --dry-run, -n\n              This makes rsync perform a trial run that doesn't make any\n"
            "              changes.  It is most commonly used with --verbose.\n"
            "DESCRIPTION\n       Rsync is a fast file copying tool.\n"
            "Options are given before the paths, and the first line of a paragraph that goes on\n"
            "    Indented Second line of a hanging paragraph.")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert ("--dry-run, -n\n              This makes rsync perform a trial run that doesn't make any\n"
            "              changes.") in sentences
    assert "It is most commonly used with --verbose." in sentences
    assert "DESCRIPTION" in sentences, "a heading in capitals is not a term"
    assert "Options are given before the paths, and the first line of a paragraph that goes on" in sentences, \
        "a long line over an indented one is not a term"


def test_an_option_over_a_blank_line_and_its_description_is_quoted_with_it():
    from ingest.chunking import sentence_spans

    text = ("       -n, --quiet, --silent\n\n              suppress automatic printing of pattern space\n\n"
            "       -s, --separate\n\n              Consider files as separate rather than as a single\n"
            "              continuous long stream.\n\nEXAMPLES\n\n       sed -n p file\n"
            "       It ends here.\n\n              An indented paragraph after a sentence.")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert "-n, --quiet, --silent\n\n              suppress automatic printing of pattern space" in sentences
    assert ("-s, --separate\n\n              Consider files as separate rather than as a single\n"
            "              continuous long stream.") in sentences
    assert "EXAMPLES" in sentences, "a heading in capitals is not a term"
    assert "An indented paragraph after a sentence." in sentences, "a line that ends a sentence is not a term"
    diagram = "       $ git commit\n\n           HEAD (refers to commit 'f')\n"
    assert [diagram[a:b] for a, b in sentence_spans(diagram)] == ["$ git commit", "HEAD (refers to commit 'f')"]
    [chunk] = chunk_document(Document("/docs/sed.1.txt", text, "sed.1"))  # the blank line ends no paragraph
    assert "-n, --quiet, --silent\n\n              suppress automatic printing of pattern space" in \
        chunk.sentence_texts()


# The fast segmenter (ingest/segmenter.py) must place every sentence where stock pysbd does. Stock pysbd
# runs in a fresh interpreter, so neither of the fast segmenter's changes (str.find, the pattern cache) reaches it.
_STOCK_PYSBD = """
import json, sys
import pysbd
segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
lines = json.load(sys.stdin)
json.dump([[[s.start, s.end] for s in segmenter.segment(line)] for line in lines], sys.stdout)
"""


def _lines_of_real_documents() -> list[str]:
    paths = [CORPUS, ROOT / "tests/data/real/gittutorial.html", ROOT / "tests/data/real/libtasn1.pdf",
             ROOT / "benchmarks/manpages-text/docs/find.1.txt"]
    lines = [line for path in paths for line in load(path).text.splitlines() if line.strip()]
    # and what trips a sentence locator: repeats, a sentence inside the next one, odd whitespace
    return [*lines, "Yes. Yes. Yes.", "No.  No.\u00a0No. No", "It is. It is not. It is.", "Go\u2003now. Go now."]


def test_the_fast_segmenter_places_every_sentence_where_stock_pysbd_does():
    from ingest.segmenter import english_segmenter

    lines = _lines_of_real_documents()
    assert len(lines) > 1000
    stock = subprocess.run([sys.executable, "-c", _STOCK_PYSBD], input=json.dumps(lines), capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONPATH": ""})
    fast = english_segmenter()
    assert [[[s.start, s.end] for s in fast.segment(line)] for line in lines] == json.loads(stock.stdout)
