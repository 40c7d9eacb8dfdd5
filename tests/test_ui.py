"""The chat UI and the /embed page: rendering, the Gradio API (gradio_client) and a real headless Chromium."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from assistant.interfaces.chat_ui import render_answer, render_draft, render_sources
from assistant.records import Answer, Citation, Context
from assistant.shelf import Shelf
from assistant.uploads import stored_name
from tests.serving_helpers import OFF_TOPIC, QUESTION

pytest_plugins = ["tests.serving_helpers"]  # the `live` server fixture

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
EVIL_DOC = f"# Quux notes\n\nThe Quuxwidget {EVIL} was patented in 1921 by Mabel Quux.\n"


def evil_answer() -> Answer:
    quote = f"The Quuxwidget {EVIL} was patented in 1921."
    citation = Citation(n=1, source="/docs/<b>x</b>.md", title="<i>T</i>", section="S & <u>s</u>", quote=quote,
                        chunk_id="c1", start=0, end=len(quote), url="javascript:window.__xss=3", published="<p>")
    context = Context(chunk_id="c1", source=citation.source, text=f"Before *bold* {quote} after.", score=1.0)
    return Answer(answer=f"The Quuxwidget {EVIL} was patented in 1921. [1] Not [2].", abstained=False,
                  citations=[citation], contexts=[context])


# ---------------------------------------------------------------- rendering (no server)


def test_rendering_escapes_everything_from_documents():
    answer = evil_answer()
    for html in (render_answer(answer, "t0k3n"), render_sources(answer), render_draft(answer.answer)):
        assert "<img" not in html and "<script" not in html and "<i>" not in html and "<u>" not in html
        assert "javascript:" not in html and "<p>" not in html
    html = render_answer(answer, "t0k3n")
    assert "&lt;img src=x" in html and 'href="#cite-t0k3n-1"' in html
    assert "href=" not in render_draft(answer.answer), "markers in a draft link nowhere"
    assert "href=\"#cite-t0k3n-2\"" not in html, "a marker without a citation must not become a link"
    assert '<details class="cite-note" id="cite-t0k3n-1">' in html
    assert "<mark>The Quuxwidget &lt;img" in html and "Before *bold*" in html


def test_removed_sentences_show_as_a_quiet_note_that_expands_to_the_reasons():
    from assistant.records import SentenceVerdict

    answer = evil_answer().model_copy(update={"verdicts": [
        SentenceVerdict(sentence="Kept one.", verdict="kept", cited=[1], citations=[1]),
        SentenceVerdict(sentence=f"Invented {EVIL}.", verdict="dropped", reason="1921 not in <the> passage", cited=[1]),
        SentenceVerdict(sentence="Uncited.", verdict="dropped", reason="cites no passage"),
    ]})
    html = render_answer(answer, "t")
    assert '<details class="removed-sentences"><summary>2 sentences removed: not supported by the documents' in html
    assert "Invented &lt;img" in html and "1921 not in &lt;the&gt; passage" in html and "Kept one." not in html
    assert "removed-sentences" not in render_answer(evil_answer(), "t"), "no note when nothing was removed"


def test_abstention_renders_as_an_answer_not_an_error():
    answer = Answer(answer="The documents do not cover this.", abstained=True, reason="nothing <relevant>")
    html = render_answer(answer, "x")
    assert 'class="abstained"' in html and "nothing &lt;relevant&gt;" in html and "⚠" not in html
    assert "do not cover" in render_sources(answer)


# ---------------------------------------------------------------- the Gradio API


@pytest.fixture(scope="module")
def gradio(live):
    from gradio_client import Client

    return Client(f"{live.url}/", verbose=False)


def _last_text(chat: list[dict]) -> str:
    content = chat[-1]["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


@pytest.mark.slow
def test_gradio_chat_endpoint_answers_with_footnotes(gradio, live):
    chat, panel, box = gradio.predict(QUESTION, [], api_name="/chat")
    expected = live.served.ask(QUESTION)
    assert [m["role"] for m in chat] == ["user", "assistant"] and box == ""
    text = _last_text(chat)
    assert "April 2022" in text and 'class="cite-ref"' in text
    for c in expected.citations:
        assert f"<mark>{c.quote}</mark>" in text and f"<mark>{c.quote}</mark>" in panel
    assert text.count('<details class="cite-note"') == len(expected.citations)


@pytest.mark.slow
def test_gradio_chat_streams_progressively(gradio):
    job = gradio.submit(QUESTION, [], api_name="/chat")
    final_chat, _, _ = job.result()
    steps = [_last_text(chat) for chat, _, _ in job.outputs()]
    assert len(steps) >= 3, "placeholder, at least one draft, the final answer"
    assert "Searching the documents" in steps[0] and 'class="drafting"' in steps[1]
    assert steps[-1] == _last_text(final_chat) and "cite-notes" in steps[-1]


@pytest.mark.slow
def test_gradio_chat_follow_ups_use_the_conversation(live):
    from gradio_client import Client

    session = Client(f"{live.url}/", verbose=False)  # a fresh session: the conversation lives in its state
    chat, _, _ = session.predict("What did Marisa Lago do?", [], api_name="/chat")
    chat, _, _ = session.predict("Who is she?", chat, api_name="/chat")
    assert len(chat) == 4
    assert "Marisa Lago" not in live.served.ask("Who is she?").answer  # alone, the question finds someone else
    assert "Marisa Lago" in _last_text(chat)


@pytest.mark.slow
def test_gradio_chat_endpoint_shows_abstentions_and_errors_readably(gradio):
    chat, panel, _ = gradio.predict(OFF_TOPIC, [], api_name="/chat")
    assert "abstained" in _last_text(chat) and "cites no sources" in panel
    chat, _, _ = gradio.predict("why " * 600, [], api_name="/chat")
    text = _last_text(chat)
    assert "limit is 2,000" in text and "Traceback" not in text


@pytest.mark.slow
def test_sources_tab_ingests_and_removes(gradio, live, tmp_path):
    from gradio_client import handle_file

    doc = tmp_path / "tab notes.md"
    doc.write_text("# Tab notes\n\nThe Velmora canal opened in 1788 after nine years of digging.\n", encoding="utf-8")
    table, _, status, _ = gradio.predict([handle_file(str(doc))], api_name="/ingest")
    assert "Added 1" in status
    name = stored_name("tab notes.md")
    [row] = [r for r in table["data"] if r[0] == name]
    assert (live.data_dir / "uploads" / name).exists()
    assert "1788" in live.served.ask("When did the Velmora canal open?").answer
    table, _, status = gradio.predict(row[-1], api_name="/remove")
    assert f"Removed {name}" in status and all(r[0] != name for r in table["data"])
    assert not (live.data_dir / "uploads" / name).exists()


# ---------------------------------------------------------------- a real browser


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _ask_in_ui(page, url: str, question: str) -> None:
    page.goto(url)
    page.get_by_placeholder("Ask a question").fill(question)
    page.get_by_placeholder("Ask a question").press("Enter")


@pytest.mark.slow
@pytest.mark.browser
def test_browser_chat_reveals_the_cited_passage_and_saves_a_rating(page, live):
    expected = live.served.ask(QUESTION)
    page.goto(f"{live.url}/")
    examples = Shelf(live.served.bot.settings).profile("default").examples
    assert examples
    for example in examples:  # the bundled collection's, offered on first load
        page.locator("#chat").get_by_text(example).wait_for(state="visible")
    page.locator("#chat").get_by_text(QUESTION).click()
    first = page.locator("#chat a.cite-ref").first
    first.wait_for()
    note_id = first.get_attribute("href").lstrip("#")
    note = page.locator(f"#{note_id}")
    assert not note.locator("mark").is_visible()
    first.click()
    mark = note.locator("mark")
    mark.wait_for(state="visible")
    assert mark.inner_text() == expected.citations[0].quote
    assert note.get_attribute("open") is not None
    assert expected.citations[0].section in note.locator("summary").inner_text()
    assert page.locator("#sources-panel mark").first.inner_text() == expected.citations[0].quote
    _shot(page, "ui-citation.png")

    ratings = live.data_dir / "ratings.jsonl"

    def lines() -> list[str]:
        return ratings.read_text(encoding="utf-8").splitlines() if ratings.exists() else []

    before = len(lines())
    page.get_by_label("Comment (optional)", exact=False).fill("clear and cited")
    page.locator("#chat").get_by_role("button", name="Like").last.click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(lines()) == before:
        time.sleep(0.2)
    assert len(lines()) == before + 1
    record = json.loads(lines()[-1])
    assert record["rating"] == "up" and record["comment"] == "clear and cited" and record["question"] == QUESTION
    assert record["answer"] == expected.answer and [c["quote"] for c in record["citations"]] == [
        c.quote for c in expected.citations]


@pytest.mark.slow
@pytest.mark.browser
def test_browser_embed_page_shows_quotes(page, live):
    expected = live.served.ask(QUESTION)
    page.goto(f"{live.url}/embed?title=Ask%20the%20article")
    assert page.locator("h1").inner_text() == "Ask the article"
    page.locator("#question").fill(QUESTION)
    page.locator("#send").click()
    button = page.locator("button.cite").first
    button.wait_for()
    quote = expected.citations[0].quote
    assert f"“{quote}”" in page.locator("#log .note").first.inner_text()  # the quotes show at once
    passage = page.locator(f"#{button.get_attribute('aria-controls')}")
    assert not passage.is_visible()
    button.click()  # the [n] reveals the passage around the quote
    assert passage.is_visible() and passage.locator("mark").inner_text() == quote
    assert expected.citations[0].title in page.locator("#log .note").first.inner_text()
    _shot(page, "embed-citation.png")


@pytest.mark.slow
@pytest.mark.browser
def test_browser_never_runs_markup_from_documents(page, live):
    with httpx.Client(base_url=live.url, timeout=60) as client:
        upload = client.post("/api/sources", files={"files": ("quux.md", EVIL_DOC.encode(), "text/markdown")})
        assert upload.status_code == 200, upload.text
        source = upload.json()["sources"][0]["id"]
        try:
            question = "When was the Quuxwidget patented?"
            _ask_in_ui(page, f"{live.url}/", question)
            page.locator("#chat a.cite-ref").first.wait_for()
            page.locator("#chat a.cite-ref").first.click()
            assert "<img src=x" in page.locator("#chat").inner_text()
            assert page.evaluate("window.__xss") is None
            page.goto(f"{live.url}/embed")
            page.locator("#question").fill(question)
            page.locator("#send").click()
            page.locator("button.cite").first.wait_for()
            page.locator("button.cite").first.click()
            assert "<img src=x" in page.locator("#log").inner_text()
            assert page.evaluate("window.__xss") is None
        finally:
            assert client.delete(f"/api/sources/{source}").status_code == 200


@pytest.mark.slow
@pytest.mark.browser
def test_browser_embed_page_works_under_its_csp_and_the_csp_blocks_inline_script(page, live):
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(f"{live.url}/embed")
    page.locator("#question").fill(QUESTION)
    page.locator("#send").click()
    page.locator("button.cite").first.wait_for()  # embed.js ran and /api/ask was reachable
    assert violations == []
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text) as refused:
        page.evaluate("""() => {
            const inline = document.createElement("script");
            inline.textContent = "window.__inline = 1";
            document.head.append(inline);
        }""")
    assert page.evaluate("window.__inline") is None and "script-src" in refused.value.text


@pytest.mark.slow
@pytest.mark.browser
def test_browser_shows_apostrophes_ampersands_and_brackets_as_typed(page, live):
    question = "What's the Strategic Mechanism's aim & <purpose> in \"2022\"?"
    _ask_in_ui(page, f"{live.url}/", question)
    page.locator("#chat a.cite-ref, #chat .abstained").first.wait_for()
    chat = page.locator("#chat").inner_text()
    assert question in chat, chat[:500]
    for entity in ("&#x27;", "&#39;", "&amp;", "&lt;", "&gt;", "&quot;", "\\'"):
        assert entity not in chat, entity
    assert page.locator("#chat purpose").count() == 0, "typed brackets are text, never markup"
    _shot(page, "ui-apostrophes.png")


def test_a_citation_note_links_to_the_stored_original_at_the_citation():
    quote = "Lanterns are polished nightly."
    citation = Citation(n=1, source="/docs/l.pdf", title="L", section="S", quote=quote, chunk_id="c1", start=0,
                        end=len(quote), page=7, link="/api/sources/abc123/file#page=7")
    html = render_answer(Answer(answer=f"{quote} [1]", abstained=False, citations=[citation]), "t")
    assert 'class="cite-open" href="/api/sources/abc123/file#page=7"' in html and "p. 7" in html
    foreign = citation.model_copy(update={"link": "javascript:alert(1)"})
    html = render_answer(Answer(answer=f"{quote} [1]", abstained=False, citations=[foreign]), "t")
    assert "cite-open" not in html and "javascript:" not in html
