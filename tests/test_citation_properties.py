"""Properties of the citation builders, for arbitrary documents.

A Citation is built from a chunk and one of its sentence spans in two places: the extractive answerer
(``assistant.answering.candidates`` -> ``build_answer``) and the generated-answer verifier
(``assistant.verify.verify`` -> ``assistant.generative._number``). For generated documents (headings,
paragraphs, front matter, unicode, PDF-like pages) chunked by ``ingest.chunking.chunk_document``:

* every citation's quote is ``document.text[start:end]``, and that span is one sentence of its chunk;
* ``chunk_id``, ``source``, ``title``, ``section``, ``page``, ``url`` and ``published`` are those of the chunk;
* citations are numbered 1..len without gaps, in the order their markers first appear in the answer text;
* every ``[n]`` marker in the answer text refers to an existing citation, and every citation is used.

The extractive builder is pure (sentence and query vectors are plain arrays), so its property runs without a
model; the end-to-end and generated-answer properties use the real embedding model (session ``embedder``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from assistant.answering import ABSTAIN_TEXT, build_answer, extractive_pass, shown_text
from assistant.decision import AnswerPolicy, select
from assistant.evidence import MIN_WORDS, score_sentences
from assistant.generative import verified_answer
from assistant.questions import asks_about_document, profile
from assistant.records import Answer
from assistant.retrieval import Retrieved
from assistant.support import Quote, swapped_value
from assistant.understanding import understand
from assistant.verify import Verifier, claims_with_parts, split_claims
from ingest.chunking import ChunkingConfig, chunk_document
from ingest.loaders import load
from ingest.records import Chunk, Document
from store.chroma_index import embedding_input
from store.records import Hit
from tests.conftest import CORPUS
from tests.test_chunking import PYSBD_PLACEHOLDERS

PURE = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WITH_MODEL = settings(max_examples=20, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MARKER = re.compile(r"\[(\d+)\]")
QUESTIONS = ["Who wrote the document?", "What is the mechanism about?", "When did it happen?",
             "How many delegations met?", "What should the alpha do?", "Where is İstanbul?"]

# ---------------------------------------------------------------- generated documents

_WORDS = ["alpha", "beta", "Gamma", "U.S.", "Dr.", "e.g.", "3.5", "(note)", "“quoted”", "x", "mechanism",
          "Turkey's", "a", "…", "i.e.", "Mr.", "No.", "1.", "İstanbul", "naïve", "50%", "日本語の文", "Ελλάδα",
          "emoji🙂", "2022", "café", "Zorblat", "[7]", "[12],", "[a]"]
# Random words leave out . ? ! (sentence ends come from the sentence strategy), '#' and '-' (headings and front
# matter fences are built on purpose) and pysbd's placeholder symbols; documents' own footnote marks ("[7]")
# come from the word list, and must never read as citation markers in the answer text.
_word = st.one_of(
    st.sampled_from(_WORDS),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                          exclude_characters=".?!#-[]" + PYSBD_PLACEHOLDERS), min_size=1, max_size=10),
)
_sentence = st.builds(lambda ws, end: " ".join(ws) + end, st.lists(_word, min_size=1, max_size=20),
                      st.sampled_from([".", ".", "?", "!", "", ":", "…"]))
_paragraph = st.builds(lambda ss, sep: sep.join(ss), st.lists(_sentence, min_size=1, max_size=8),
                       st.sampled_from([" ", "  ", "\n", " \n"]))
_heading = st.builds(lambda level, ws: "#" * level + " " + " ".join(ws), st.integers(1, 6),
                     st.lists(st.sampled_from(["Background", "Gamma", "The Mechanism", "Ελλάδα", "Ω"]),
                              min_size=1, max_size=3))


@st.composite
def documents(draw, source: str) -> Document:
    blocks = draw(st.lists(st.one_of(_paragraph, _heading), min_size=1, max_size=10))
    text = "\n\n".join(blocks) + "\n"
    metadata: dict[str, str] = {}
    if draw(st.booleans()):  # front matter: its own "Document information" section
        text = f"---\ntitle: {draw(_sentence).splitlines()[0]}\nauthor: Some Writer\n---\n\n" + text
        metadata = {"author": "Some Writer", "url": f"https://example.org{source}", "published": "2022-05-12"}
    pages: tuple[tuple[int, int], ...] = ()
    if draw(st.booleans()):  # PDF-like: pages starting at arbitrary offsets
        starts = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=4))))
        pages = tuple(zip([0, *starts], range(1, len(starts) + 2), strict=True))
    return Document(source, text, draw(st.sampled_from(["Generated", "Ünïcode title", ""])) or "doc",
                    metadata, page_starts=pages)


corpora = st.lists(st.sampled_from(["/gen/a.md", "/gen/b.txt", "/gen/c/ü.md"]), min_size=1, max_size=3,
                   unique=True).flatmap(lambda names: st.tuples(*(documents(name) for name in names)))
configs = st.integers(50, 500).flatmap(
    lambda size: st.builds(ChunkingConfig, chunk_size=st.just(size), overlap=st.integers(0, size // 2 - 1))
)


def chunked(docs: Sequence[Document], config: ChunkingConfig) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_document(doc, config)]


# ---------------------------------------------------------------- the properties


def assert_citations_sound(answer: Answer, docs: Sequence[Document], chunks: Sequence[Chunk]) -> None:
    by_source = {d.source: d for d in docs}
    by_id = {c.id: c for c in chunks}
    citations = answer.citations
    assert [c.n for c in citations] == list(range(1, len(citations) + 1)), "numbering has gaps or repeats"
    markers = [int(n) for n in MARKER.findall(answer.answer)]
    assert set(markers) <= {c.n for c in citations}, f"a marker points at no citation: {answer.answer!r}"
    assert list(dict.fromkeys(markers)) == [c.n for c in citations], "not numbered in order of first use"
    for c in citations:
        doc, chunk = by_source[c.source], by_id[c.chunk_id]
        assert c.quote == doc.text[c.start : c.end], "quote is not the source text at its offsets"
        assert c.quote and c.quote == c.quote.strip()
        assert (c.start, c.end) in chunk.sentences, "the span is not a sentence of the cited chunk"
        assert chunk.start <= c.start < c.end <= chunk.end
        assert (c.source, c.title, c.section) == (chunk.source, chunk.title, chunk.section)
        assert c.page == chunk.page_at(c.start) == _page_of(doc, c.start), "the page the quote is printed on"
        assert (c.url, c.published) == (doc.metadata.get("url"), doc.metadata.get("published"))


def _page_of(doc: Document, offset: int) -> int | None:
    pages = [page for start, page in doc.page_starts if start <= offset]
    return pages[-1] if pages else (doc.page_starts[0][1] if doc.page_starts else None)


def sentence_vectors(embedder, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
    """What the store keeps for each chunk: one vector per sentence, from the chunk's own encoder pass."""
    if not chunks:
        return {}
    inputs = [embedding_input(c) for c in chunks]
    _, vectors = embedder.encode_with_spans([text for text, _ in inputs], [spans for _, spans in inputs])
    return {c.id: v for c, v in zip(chunks, vectors, strict=True)}


@PURE
@given(corpora, configs, st.data())
def test_property_every_sentence_of_every_chunk_cites_verbatim(docs, config, data):
    chunks = chunked(docs, config)
    order = data.draw(st.permutations(range(len(chunks))))
    hits = [Hit(chunks[i], 1.0 / rank, rank) for rank, i in enumerate(order, start=1)]
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vectors = {c.id: rng.normal(size=(len(c.sentences), 8)).astype(np.float32) for c in chunks}
    question = profile(data.draw(st.sampled_from(QUESTIONS)))
    ranked = score_sentences(hits, question, rng.normal(size=8).astype(np.float32), vectors,
                             about_document=asks_about_document(question.text))

    # every sentence of every chunk (long enough to be an answer) is a candidate, once
    keys = [(c.chunk.source, c.start, c.end) for c in ranked]
    assert len(keys) == len(set(keys))
    about_document = question.text == "Who wrote the document?"
    expected = {(c.source, s, e) for c in chunks for (s, e), text in zip(c.sentences, c.sentence_texts(), strict=True)
                if len(text.split()) >= MIN_WORDS and (about_document or c.section != "Document information")}
    assert set(keys) == expected

    # all of them cited at once, in an arbitrary order
    if ranked:
        everything = build_answer(ranked, hits, question.text)
        assert_citations_sound(everything, docs, chunks)
        assert everything.answer == " ".join(f"{shown_text(c.quote)} [{c.n}]" for c in everything.citations)
        assert [(c.chunk_id, c.start) for c in everything.citations] == [(c.chunk.id, c.start) for c in ranked]

        picked = data.draw(st.permutations(ranked))[: data.draw(st.integers(1, len(ranked)))]
        assert_citations_sound(build_answer(picked, hits, question.text), docs, chunks)

        chosen = select(ranked, question, AnswerPolicy())  # what the answerer really picks
        if chosen:
            assert_citations_sound(build_answer(chosen, hits, question.text), docs, chunks)


def cited(sentence: str, marker: int) -> str:
    """A generated sentence with its marker before the full stop ("Fact [2]."); marker -1: no marker."""
    body = sentence.rstrip(".!?…:")
    return f"{body} [{marker}]." if marker >= 0 else f"{body}."


@pytest.mark.slow
@WITH_MODEL
@given(corpora, configs, st.data())
def test_property_extractive_answers_cite_verbatim_end_to_end(embedder, docs, config, data):
    chunks = chunked(docs, config)
    assume(chunks)
    retrieved = data.draw(st.permutations(chunks))[:6]
    hits = [Hit(c, 1.0 / rank, rank) for rank, c in enumerate(retrieved, start=1)]
    sentences = [t for c in chunks for t in c.sentence_texts()]
    question = data.draw(st.one_of(st.sampled_from(sentences), st.sampled_from(QUESTIONS)))
    found = Retrieved(tuple(hits), sentence_vectors(embedder, retrieved))
    answer = extractive_pass(understand(question, question), found, embedder.query_vector,
                             AnswerPolicy(min_evidence=-1.0)).answer
    event("abstained" if answer.abstained else "answered")
    assert_citations_sound(answer, docs, chunks)
    if answer.abstained:
        assert answer.citations == [] and answer.answer == ABSTAIN_TEXT
    else:
        assert answer.answer == " ".join(f"{shown_text(c.quote)} [{c.n}]" for c in answer.citations)
        assert {c.chunk_id for c in answer.citations} <= {c.id for c in retrieved}


@pytest.mark.slow
@WITH_MODEL
@given(corpora, configs, st.data())
def test_property_generated_answers_number_verified_citations_in_order_of_use(embedder, docs, config, data):
    chunks = chunked(docs, config)
    assume(chunks)
    passages = data.draw(st.permutations(chunks))[: data.draw(st.integers(1, 6))]
    # The "model" writes passage sentences (and some of its own words) with markers, some of them wrong.
    claims = data.draw(st.lists(st.tuples(st.integers(0, len(passages) - 1), st.integers(0, 50),
                                          st.integers(-1, len(passages) + 1)), min_size=1, max_size=8))
    parts = []
    for passage, sentence, marker in claims:
        texts = passages[passage].sentence_texts()
        parts.append(cited(texts[sentence % len(texts)], marker))
    text = " ".join(parts)
    answer, verdicts = verified_answer(text, passages, Verifier(embedder.query_vector, embedder.encode),
                                       sentence_vectors(embedder, passages), "openai")
    event("kept some" if answer else "kept none")
    dropped = sum(v.verdict == "dropped" for v in verdicts)
    if answer is None:
        assert dropped == len(verdicts)
        return
    assert answer.verdicts == verdicts
    assert sorted({n for v in verdicts for n in v.citations}) == [c.n for c in answer.citations]
    assert_citations_sound(answer, docs, chunks)
    assert {c.chunk_id for c in answer.citations} <= {p.id for p in passages}
    assert answer.backend == "openai" and answer.dropped_sentences == dropped
    assert len({(c.source, c.start) for c in answer.citations}) == len(answer.citations), "one citation per quote"


def test_generated_answer_from_article_sentences_keeps_them_with_sound_citations(embedder):
    """A non-vacuous case of the property above: real article passages, repeated and wrong markers."""
    doc = load(CORPUS)
    chunks = chunk_document(doc)
    passages = [c for c in chunks if "F-16" in c.text][:2] + [c for c in chunks if "April 2022" in c.text][:1]
    assert len(passages) == 3
    first = next(t for t in passages[0].sentence_texts() if "F-16" in t)
    third = next(t for t in passages[2].sentence_texts() if "April 2022" in t)
    other = passages[1].sentence_texts()[0]
    text = " ".join([cited(third, 3), cited(first, 1), cited(third, 3), cited(other, 7),
                     "Unrelated words about nothing at all."])
    answer, verdicts = verified_answer(text, passages, Verifier(embedder.query_vector, embedder.encode),
                                       sentence_vectors(embedder, passages), "openai")
    # the repeat and the uncited sentence are dropped; the marker of no passage moves to the passage it is from
    assert [v.verdict for v in verdicts] == ["kept", "kept", "dropped", "moved", "dropped"]
    assert answer is not None and answer.dropped_sentences == 2
    assert_citations_sound(answer, [doc], chunks)
    assert [c.chunk_id for c in answer.citations][:2] == [passages[2].id, passages[0].id]
    assert answer.citations[2].chunk_id in {passages[0].id, passages[1].id}  # the chunks overlap: either holds it
    assert [c.quote for c in answer.citations] == [third, first, other]
    assert answer.answer == f"{third} [1] {first} [2] {other} [3]"


def test_a_sentence_its_cited_passage_contradicts_is_dropped_not_moved_to_one_that_agrees(embedder):
    """A passage that says the opposite is no citation slip: the sentence goes, even where another passage
    shown to the model says it (the documents disagree; the model's citation chose the one it reverses)."""
    docs = [Document("/gen/a.md", "# Cache\n\nThe cache is not cleared when the server restarts.\n", "A"),
            Document("/gen/b.md", "# Cache\n\nThe cache is cleared when the server restarts.\n", "B")]
    passages = [chunk_document(d)[0] for d in docs]
    verifier = Verifier(embedder.query_vector, embedder.encode)
    vectors = sentence_vectors(embedder, passages)
    reversed_, = verifier.verify("The cache is cleared when the server restarts [1].", passages, vectors).judgements
    assert reversed_.verdict == "dropped" and "negation" in (reversed_.reason or "")
    agreeing, = verifier.verify("The cache is cleared when the server restarts [2].", passages, vectors).judgements
    assert agreeing.verdict == "kept"


def test_a_wrong_value_is_dropped_not_moved_to_a_passage_that_holds_the_number(embedder):
    """The cited passage says the claim's thing with another value (128 bits, not 64): the sentence is dropped, not
    moved to another shown passage that has "64 bits". A citation slip to a passage about something else still
    moves to the passage that holds it."""
    docs = [Document("/gen/v6.md", "# IPv6\n\nIPv6 extends the addressing space to 128 bits.\n", "v6"),
            Document("/gen/subnet.md", "# Subnets\n\nA /64 subnet leaves 64 bits of the IPv6 addressing space to "
                     "the hosts.\n", "subnets"),
            Document("/gen/pasta.md", "# Cooking\n\nBoil the pasta in salted water for ten minutes.\n", "pasta")]
    passages = [chunk_document(d)[0] for d in docs]
    verifier = Verifier(embedder.query_vector, embedder.encode)
    vectors = sentence_vectors(embedder, passages)
    wrong, = verifier.verify("IPv6 extends the addressing space to 64 bits [1].", passages, vectors).judgements
    assert wrong.verdict == "dropped" and "64" in (wrong.reason or ""), (wrong.verdict, wrong.reason)
    slip, = verifier.verify("IPv6 extends the addressing space to 128 bits [3].", passages, vectors).judgements
    assert slip.verdict == "moved" and slip.quotes[0].chunk.id == passages[0].id, (slip.verdict, slip.reason)


def judge_against(embedder, document: Document):
    """Verification of one generated sentence against the chunks of ``document``."""
    passages = chunk_document(document)
    verifier = Verifier(embedder.query_vector, embedder.encode)
    vectors = sentence_vectors(embedder, passages)

    def judged(text: str):
        judgement, = verifier.verify(text, passages, vectors).judgements
        return judgement

    return judged


MANUAL = """# ssh_config

NumberOfPasswordPrompts
        Specifies the number of password prompts before giving up.  The
        argument to this keyword must be an integer.  The default is 3.

Port    Specifies the port number to connect on the remote host.  The
        default is 22.

ExitCode
        A script should exit with code 125 when the revision cannot be tested.  It
        was chosen because 126 and 127 are used by shells for errors.
"""


def test_a_value_stated_later_in_the_same_paragraph_supports_the_claim_and_is_quoted(embedder):
    """Manuals name a setting in one sentence and give its value a sentence or two later: the value counts, and
    the citation quotes the sentence that states it. A value from another paragraph or a sentence that tells
    several values apart does not."""
    assert len(chunk_document(Document("/gen/ssh_config.md", MANUAL, "ssh_config"))) == 1
    judged = judge_against(embedder, Document("/gen/ssh_config.md", MANUAL, "ssh_config"))
    faithful = judged("ssh gives three password prompts before giving up [1].")
    assert faithful.verdict == "kept", faithful.reason
    assert "The default is 3." in [q.text for q in faithful.quotes]
    other_paragraph = judged("ssh gives 22 password prompts before giving up [1].")
    assert other_paragraph.verdict == "dropped" and "22" in (other_paragraph.reason or "")
    swapped = judged("A script should exit with code 127 when the revision cannot be tested [1].")
    assert swapped.verdict == "dropped" and "127" in (swapped.reason or "")


PREFERENCES = """# Scan preferences

- Black & white conversion threshold : 0.60

- Marks size max increase : 0.20

- Default upper darkness threshold : 1

- Default darkness threshold : 0.15
"""


def test_a_value_in_a_sibling_sentence_holding_all_the_claims_words_supports_it(embedder):
    """A list of settings: the closest item to "The default darkness threshold is 0.15" is the *upper* threshold's
    (the same words and one more), while the item with the value holds every word of the claim too, so it joins
    the support. A value from an item that lacks the claim's words ("conversion threshold : 0.60") does not."""
    judged = judge_against(embedder, Document("/gen/prefs.md", PREFERENCES, "Preferences"))
    faithful = judged("The default darkness threshold is 0.15 [1].")
    assert faithful.verdict == "kept", faithful.reason
    assert any(q.text.endswith("Default darkness threshold : 0.15") for q in faithful.quotes)
    wrong = judged("The default darkness threshold is 0.60 [1].")
    assert wrong.verdict == "dropped" and "0.6" in (wrong.reason or "")


QUERIES = """# Querying the package database

dpkg answers questions about installed packages:

- --listfiles package (or -L), which lists the files installed by this package;
- --search file (or -S), which finds the package(s) containing the file;
- --status package (or -s), which displays the headers of an installed package.
"""


def test_an_option_given_what_a_sibling_entry_says_is_a_wrong_name(embedder):
    """Both entries of the list are in the support (one holds the claim's option, the other its description), so
    every word and name of "dpkg --listfiles file (or -L) finds the package containing the file" is there: the
    claim is still wrong, and is dropped. The entry's own description is kept."""
    judged = judge_against(embedder, Document("/gen/dpkg.md", QUERIES, "dpkg"))
    swapped = judged("dpkg --listfiles file (or -L) finds the package or packages containing the file [1].")
    assert swapped.verdict == "dropped" and "--listfiles" in (swapped.reason or ""), swapped.reason
    faithful = judged("dpkg --search file (or -S) finds the package or packages containing the file [1].")
    assert faithful.verdict == "kept", faithful.reason


def test_a_marker_after_the_full_stop_belongs_to_the_sentence_before_it():
    text = "Alpha rose in 2020. [1] Progress on beta was slow. [2]"
    assert split_claims(text) == [("Alpha rose in 2020.", [1]), ("Progress on beta was slow.", [2])]


def test_a_sentence_citing_two_passages_is_verified_in_parts():
    text = "Alpha rose in 2020 [1], and beta stayed where it was [2]. Gamma fell [3]."
    assert claims_with_parts(text) == [
        ("Alpha rose in 2020, and beta stayed where it was.", [1, 2],
         [("Alpha rose in 2020", [1]), ("and beta stayed where it was", [2])]),
        ("Gamma fell.", [3], []),
    ]


def test_bracketed_numbers_in_a_document_are_not_mistaken_for_markers():
    doc = Document("/gen/refs.md", "# Results\n\nThe harbour grew by 40 percent, as shown [7] in the survey.\n",
                   "Refs")
    chunks = chunk_document(doc)
    hits = [Hit(c, 1.0, rank) for rank, c in enumerate(chunks, start=1)]
    vectors = {c.id: np.ones((len(c.sentences), 2), dtype=np.float32) for c in chunks}
    question = profile("How much did the harbour grow?")
    answer = build_answer(score_sentences(hits, question, np.ones(2, dtype=np.float32), vectors), hits, question.text)
    assert_citations_sound(answer, [doc], chunks)


# ---------------------------------------------------------------- the loaders of parsed formats

_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü", min_size=1, max_size=9)
_INLINE = st.sampled_from(["b", "em", "code", "a", "span", "i"])


@st.composite
def html_pages(draw) -> tuple[str, list[str], list[str]]:
    """A page of headings, paragraphs with inline markup inside words' runs, and <pre> blocks."""
    parts, sentences, codes = ["<html><body><nav>Prev Next</nav><div class='body'>"], [], []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["h2", "p", "p", "pre"]))
        words = draw(st.lists(_WORDS, min_size=2, max_size=12))
        if kind == "pre":
            code = "\n".join(f"$ run {w} --flag" for w in words[:4])
            parts.append(f"<pre>{code}</pre>")
            codes.append(code)
            continue
        tag = draw(_INLINE)
        marked = [f"<{tag}>{w}</{tag}>" if j % 3 == 1 else w for j, w in enumerate(words)]
        text = " ".join(marked)
        parts.append(f"<h2 id='s{i}'>{text}</h2>" if kind == "h2" else f"<p>{text.capitalize()}.</p>")
        sentences.append(" ".join(words))
    parts.append("</div><div class='navfooter'>Home Up</div></body></html>")
    return "".join(parts), sentences, codes


@PURE
@given(html_pages(), configs)
def test_property_html_pages_load_with_joined_words_verbatim_code_and_sound_offsets(page, config):
    from ingest.html_loader import load_html

    html, sentences, codes = page
    doc = load_html("/gen/p.html", html, html.encode(), "p")
    lowered = doc.text.lower()
    for sentence in sentences:
        assert sentence in lowered, (sentence, doc.text)
    for code in codes:
        assert f"```\n{code}\n```" in doc.text
    assert "Prev Next" not in doc.text and "Home Up" not in doc.text
    for chunk in chunk_document(doc, config):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert all(chunk.start <= a < b <= chunk.end for a, b in chunk.sentences)


_LINES = st.lists(st.lists(_WORDS, min_size=1, max_size=8).map(" ".join), min_size=1, max_size=6)


@PURE
@given(st.lists(_LINES, min_size=1, max_size=4), configs)
def test_property_pdf_pages_load_with_their_words_pages_and_sound_offsets(pages, config):
    from ingest.pdf_loader import load_pdf
    from tests.test_loaders import make_pdf

    # each line tagged by its page and place: real pages do not repeat a line at their edges (that is a header)
    ascii_pages = [[f"q{'abcd'[n]}{'abcdef'[k]} " + " ".join(line.encode("ascii", "ignore").decode().split())
                    for k, line in enumerate(lines)] for n, lines in enumerate(pages)]
    doc = load_pdf("/gen/p.pdf", make_pdf(["\n".join(lines) for lines in ascii_pages]), "p")
    assert [page for _, page in doc.page_starts] == [n for n in range(1, len(pages) + 1)]
    flat = " ".join(doc.text.split())
    for lines in ascii_pages:
        for line in lines:
            assert line.strip() in flat
    for chunk in chunk_document(doc, config):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        for start, _ in chunk.sentences:
            page = chunk.page_at(start)
            assert page == max(p for at, p in doc.page_starts if at <= start)


@PURE
@given(st.lists(st.tuples(st.booleans(), st.lists(_WORDS, min_size=1, max_size=8).map(" ".join)), min_size=1,
                max_size=8), configs)
def test_property_docx_paragraphs_and_headings_load_with_sound_offsets(blocks, config):
    import docx

    from ingest.loaders import _docx

    document = docx.Document()
    for heading, words in blocks:
        document.add_heading(words, 1) if heading else document.add_paragraph(words)
    buffer = io.BytesIO()
    document.save(buffer)
    doc = _docx("/gen/d.docx", buffer.getvalue())
    assert doc.text == "\n\n".join(f"# {w}" if h else w for h, w in blocks)
    for chunk in chunk_document(doc, config):
        assert doc.text[chunk.start : chunk.end] == chunk.text


DATE_FORMATS = """# DATE FORMATS

The GIT_AUTHOR_DATE and GIT_COMMITTER_DATE environment variables support the following date formats:

Git internal format : It is <unix-timestamp> <time-zone-offset>, where <unix-timestamp> is the number of seconds
since the UNIX epoch.

RFC 2822 : The standard email format, for example Thu, 07 Apr 2005 22:13:13 +0200.

ISO 8601 : Time and date specified by the ISO 8601 standard, for example 2005-04-07T22:13:13.
"""


def test_a_sentence_holding_every_one_of_the_claims_many_values_supports_them(embedder):
    """"An RFC 2822 date looks like Thursday, April 7, 2005, 22:13:13 +0200": the closest sentences introduce the
    formats, while the example with all of the claim's values (2822, 7, April, Thursday, 2005, 22:13:13, +0200)
    is a paragraph further down. A sentence that holds every one of three or more values is the claim's own; one
    value off and it is not."""
    judged = judge_against(embedder, Document("/gen/date-formats.md", DATE_FORMATS, "git-commit"))
    faithful = judged("An RFC 2822 date that Git accepts looks like Thursday, April 7, 2005, 22:13:13 +0200 [1].")
    assert faithful.verdict == "kept", faithful.reason
    assert any("Thu, 07 Apr 2005" in q.text for q in faithful.quotes)
    wrong = judged("An RFC 2822 date that Git accepts looks like Thursday, April 8, 2005, 22:13:13 +0200 [1].")
    assert wrong.verdict == "dropped" and "8" in (wrong.reason or ""), wrong.reason


ZSTD_LEVELS = """# COMPRESSION

--compress-level=NUM, --zl=NUM
    Explicitly set the compression level to use (see --compress, -z) instead of letting it default.

    The level values vary depending on the checksum in effect. Because rsync will negotiate a checksum choice by
    default, it can be good to combine this option with a --compress-choice (--zc) option. For example:

        rsync -aiv --zc=zstd --zl=22 host:src/ dest/

    For zlib & zlibx compression the valid values are from 1 to 9 with 6 being the default. Specifying --zl=0
    turns compression off, and specifying --zl=-1 chooses the default level of 6.

    For zstd compression the valid values are from -131072 to 22 with 3 being the default. Specifying 0 chooses
    the default of 3.
"""


def test_a_sentence_holding_all_the_claims_values_supports_them_though_the_window_had_one(embedder):
    """rsync(1): "levels from -131072 up to twenty-two, with three as the default": the closest sentence (an
    example with "--zl=22") holds one of the three values, so only two were missing, and a sentence outside its
    paragraph joined only for three or more missing ones. It counts the claim's values: the sentence holding all
    three is the claim's own; one value off and it is not."""
    judged = judge_against(embedder, Document("/gen/rsync.md", ZSTD_LEVELS, "rsync"))
    faithful = judged("For zstd, rsync accepts levels from -131072 up to twenty-two, with three as the default [1].")
    assert faithful.verdict == "kept", faithful.reason
    wrong = judged("For zstd, rsync accepts levels from -131072 up to twenty-two, with four as the default [1].")
    assert wrong.verdict == "dropped" and "4" in (wrong.reason or ""), wrong.reason


def test_a_word_the_passage_says_otherwise_is_no_antonym_of_another_of_its_words(embedder):
    """"autoclean deletes only packages that can no longer be downloaded" against a passage that says "removes"
    for "deletes", and "APT keeps a copy of each downloaded file" about something else: "keeps" is not what the
    claim reverses. Where the passage has no other word for it, "deletes" against "keeps" is a reversal."""
    cache = ("# The cache of .deb files\n\nAPT keeps a copy of each downloaded .deb file in the directory "
             "/var/cache/apt/archives/. Two commands can be used: apt-get clean entirely empties the directory; "
             "apt-get autoclean only removes packages which can no longer be downloaded.\n")
    judged = judge_against(embedder, Document("/gen/cache.md", cache, "cache"))
    faithful = judged("apt-get clean completely empties the /var/cache/apt/archives/ directory, while apt-get "
                      "autoclean deletes only packages that can no longer be downloaded [1].")
    assert faithful.verdict == "kept", faithful.reason
    kept = judge_against(embedder, Document("/gen/kept.md", "# Cache\n\napt-get autoclean only keeps packages "
                                                             "which can still be downloaded.\n", "kept"))
    reversed_ = kept("apt-get autoclean deletes the packages which can still be downloaded [1].")
    assert reversed_.verdict == "dropped" and "keep" in (reversed_.reason or ""), reversed_.reason


LOCK_TIMEOUT = """core.filesRefLockTimeout : The length of time, in milliseconds, to retry when trying to lock an
individual reference. Value 0 means not to retry at all; -1 means to try indefinitely. Default is 100 (i.e.,
retry for 100ms).
"""


def test_a_name_the_documents_title_holds_is_no_missing_name(embedder):
    """Every sentence of git-config(1) is about Git, and every page of "Auto Multiple Choice" about AMC: a
    sentence naming them is not dropped for a name its passage does not repeat. Another program's name is."""
    judged = judge_against(embedder, Document("/gen/git-config.html", LOCK_TIMEOUT, "git-config(1)"))
    faithful = judged("By default Git retries for 100 milliseconds when it tries to lock an individual reference [1].")
    assert "git" not in (faithful.reason or ""), faithful.reason
    assert faithful.verdict == "kept", faithful.reason
    other = judged("By default Mercurial retries for 100 milliseconds when it tries to lock an individual "
                   "reference [1].")
    assert other.verdict == "dropped" and "mercurial" in (other.reason or ""), other.reason
    titled = judge_against(embedder, Document("/gen/amc.pdf", LOCK_TIMEOUT, "Auto Multiple Choice"))
    assert "amc" not in (titled("AMC retries for 100 milliseconds to lock an individual reference [1].").reason or "")


PIN_PRIORITIES = """# Managing package priorities

Each installed package version has a priority of 100. A non-installed version has a priority of 500 by default.

In more concrete terms, a package whose priority is

< 0 : will never be installed,

1..99 : will only be installed if no other version of the package is already installed,

100..499 : will only be installed if there is no other newer version installed or available in another distribution,

500..989 : will only be installed if there is no newer version installed or available in the target distribution,

990..1000 : will be installed except if the installed version is newer,

> 1000 : will always be installed, even if it forces APT to downgrade to an older version.
"""


def test_a_number_given_what_a_sibling_sentence_says_of_another_is_a_wrong_number():
    """A support window of two list items: "990" from one, every other word from the item for 1000. The item
    holding the claim's number says little of what the claim says (under half its words): the number is wrong.
    A claim joining two sentences that each say half of it keeps both numbers."""
    chunk, = chunk_document(Document("/gen/pinning.md", PIN_PRIORITIES, "Package priorities"))

    def quotes(*starts: str) -> list[Quote]:
        found = []
        for start in starts:
            (begin, end), text = next((span, text) for span, text in zip(chunk.sentences, chunk.sentence_texts(),
                                                                          strict=True) if text.startswith(start))
            found.append(Quote(chunk, begin, end, text))
        return found

    items = quotes("990..1000", "> 1000")
    wrong = "A package whose priority is higher than 990 will always be installed, even if it forces a downgrade."
    assert swapped_value(wrong, items) == "gives 990 what the passage says of 1000"
    right = "A package whose priority is higher than 1000 will always be installed, even if it forces a downgrade."
    assert swapped_value(right, items) is None
    joined = "An installed package version has a priority of 100, a non-installed one 500 by default."
    assert swapped_value(joined, quotes("Each installed", "A non-installed")) is None
