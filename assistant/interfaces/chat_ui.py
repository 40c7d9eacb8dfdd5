"""The Gradio chat UI: the chat with its citations, and the Sources tab (``web.py`` mounts it on the API).

The UI calls the same ``Portal`` as the API (no HTTP hop): the collections the signed-in key may read, in a
selector that shows when there are several. Every string that comes from a
document or an answer is HTML-escaped here before Gradio sees it; Gradio's sanitizer is a second net.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.errors import EXPECTED, is_expected
from assistant.interfaces.access import Caller
from assistant.interfaces.portal import Portal
from assistant.records import MARKER, Answer, AnswerEvent, Citation, Context, ErrorEvent, Message, TokenEvent
from assistant.shelf import DEFAULT_COLLECTION
from ingest.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

THINKING = "_Searching the documents…_"
FAILED = "Sorry — something went wrong while answering. The server log has the details; please try again."
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~$])")
_ratings_lock = threading.Lock()

CSS = """
a.cite-ref { text-decoration: none; font-size: .8em; vertical-align: super; padding: 0 .15em; border-radius: 3px;
             background: var(--color-accent-soft); }
.cite-notes { margin-top: .6em; font-size: .92em; }
details.cite-note { border-left: 3px solid var(--color-accent); padding: .2em .6em; margin: .3em 0; }
details.cite-note summary { cursor: pointer; }
details.cite-note.cite-active { background: var(--color-accent-soft); }
.cite-passage { white-space: normal; margin: .4em 0; }
.cite-passage mark { background: #fff3a3; color: inherit; }
.cite-meta { font-size: .85em; opacity: .8; }
.abstained { font-style: italic; opacity: .85; }
.drafting { opacity: .6; }
"""

# Clicking an [n] marker opens its footnote (a <details>) and scrolls to it; plain #anchors cannot open one.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest("a.cite-ref") : null;
    if (!link) return;
    const note = document.getElementById((link.getAttribute("href") || "").slice(1));
    if (!note) return;
    event.preventDefault();
    document.querySelectorAll("details.cite-active").forEach((n) => n.classList.remove("cite-active"));
    note.open = true;
    note.classList.add("cite-active");
    note.scrollIntoView({block: "nearest", behavior: "smooth"});
  }, true);
}
"""


# ---------------------------------------------------------------- rendering (all text escaped here)


def _text(value: str) -> str:
    """Escape for a Markdown paragraph: HTML first, then the characters Markdown would act on.

    Quotes stay as typed: escaping them to ``&#x27;`` would put a ``#`` that the Markdown step escapes
    again, and the chat would show the entity instead of the apostrophe.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def _safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"https?://", url, re.IGNORECASE) else None


def render_text(text: str, token: str, numbers: set[int]) -> str:
    """Answer text as Markdown, each [n] a link to footnote n of this answer."""
    out, last = [], 0
    for match in MARKER.finditer(text):
        out.append(_text(text[last : match.start()]))
        n = int(match.group(1))
        out.append(f'<a class="cite-ref" href="#cite-{token}-{n}">[{n}]</a>' if n in numbers
                   else _text(match.group(0)))
        last = match.end()
    out.append(_text(text[last:]))
    return "".join(out)


def _passage(citation: Citation, contexts: list[Context]) -> str:
    """The cited chunk with the verbatim quote highlighted; only the quote when the chunk is not at hand."""
    chunk = next((c.text for c in contexts if c.chunk_id == citation.chunk_id), "")
    at = chunk.find(citation.quote) if chunk else -1
    mark = f"<mark>{html.escape(citation.quote)}</mark>"
    body = mark if at < 0 else (
        html.escape(chunk[:at]) + mark + html.escape(chunk[at + len(citation.quote) :])
    )
    return body.replace("\n", "<br>")


def render_note(citation: Citation, contexts: list[Context], anchor: str, open_: bool = False) -> str:
    """One footnote: the quote, where it comes from, and (opened) the passage around it. One line of HTML."""
    where = " · ".join(html.escape(x) for x in (citation.title, citation.section, citation.published or "") if x)
    url = _safe_url(citation.url)
    link = f' · <a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">source</a>' if url else ""
    if citation.link and citation.link.startswith("/api/sources/"):  # ours: the stored original at the quote
        link += (f' · <a class="cite-open" href="{html.escape(citation.link)}" target="_blank" '
                 f'rel="noopener">open at the citation</a>')
    page = f" · p. {citation.page}" if citation.page else ""
    meta = (f"{html.escape(Path(citation.source).name)}{page} · chars {citation.start}–{citation.end}{link}")
    return (
        f'<details class="cite-note" id="{anchor}"{" open" if open_ else ""}>'
        f"<summary><b>[{citation.n}]</b> “{html.escape(citation.quote)}” — {where}</summary>"
        f'<div class="cite-passage">{_passage(citation, contexts)}</div>'
        f'<div class="cite-meta">{meta}</div></details>'
    )


def render_answer(answer: Answer, token: str) -> str:
    """The chat message of an answer: text with [n] links, then one footnote per citation."""
    text = render_text(answer.answer, token, {c.n for c in answer.citations})
    if answer.abstained:
        reason = f" ({html.escape(answer.reason)})" if answer.reason else ""
        return f'<span class="abstained">{text}{reason}</span>'
    if not answer.citations:
        return text + render_removed(answer)
    notes = "".join(render_note(c, answer.contexts, f"cite-{token}-{c.n}") for c in answer.citations)
    return f'{text}\n\n<div class="cite-notes">{notes}</div>{render_removed(answer)}'


def render_removed(answer: Answer) -> str:
    """A quiet, expandable note of the generated sentences verification removed, each with why."""
    dropped = [v for v in answer.verdicts if v.verdict == "dropped"]
    if not dropped:
        return ""
    items = "".join(f"<li>{html.escape(v.sentence)} <em>({html.escape(v.reason or 'not supported')})</em></li>"
                    for v in dropped)
    count = f"{len(dropped)} sentence{'s' if len(dropped) > 1 else ''}"
    return (f'<details class="removed-sentences"><summary>{count} removed: not supported by the documents'
            f"</summary><ul>{items}</ul></details>")


def render_draft(text: str) -> str:
    """Text still being written: shown dimmed, markers inert, until the verified answer replaces it."""
    return f'<span class="drafting">{render_text(text, "draft", set())}</span>'


def render_sources(answer: Answer | None) -> str:
    """The side panel: the sources of the last answer, every cited passage open."""
    if answer is None:
        return "<p>The sources of the last answer show here.</p>"
    if answer.abstained or not answer.citations:
        return "<p>The last answer cites no sources: the documents do not cover the question.</p>"
    token = uuid.uuid4().hex[:8]
    return "".join(render_note(c, answer.contexts, f"src-{token}-{c.n}", open_=True) for c in answer.citations)


# ---------------------------------------------------------------- chat


def _history(turns: list[dict]) -> list[Message]:
    """The conversation so far (the UI's turn state) as the messages a follow-up is read with."""
    pairs = [(t["question"], t["answer"]["answer"]) for t in turns if t.get("answer")]
    return [m for q, a in pairs for m in (Message(role="user", content=q), Message(role="assistant", content=a))]


def _problem(exc: Exception) -> str:
    """A chat message for a failure: what went wrong in words, or a plain apology for a bug (never a trace)."""
    # a bug was logged with its traceback where it happened
    return f"⚠️ {_text(str(exc))}" if is_expected(exc) else FAILED


def make_respond(portal: Portal):
    def respond(message: str, chat: list[dict] | None, turns: list[dict] | None, collection: str | None,
                request: gr.Request) -> Iterator[tuple]:
        """Stream one answer into the chat: a placeholder, the draft as it is written, then the cited answer."""
        chat, turns = list(chat or []), list(turns or [])
        question = (message or "").strip()
        if not question:
            yield chat, turns, gr.skip(), ""
            return
        chat += [{"role": "user", "content": _text(question)}, {"role": "assistant", "content": THINKING}]
        yield chat, turns, gr.skip(), ""
        answer, failure, draft = None, None, ""
        try:
            served = portal.open(collection, _caller(portal, request))
            for event in served.ask_events(question, _history(turns)):
                match event:
                    case TokenEvent(text=text):
                        draft += text
                        chat[-1] = {"role": "assistant", "content": render_draft(draft)}
                        yield chat, turns, gr.skip(), ""
                    case AnswerEvent():
                        answer = event.answer
                    case ErrorEvent():
                        failure = event.error
        except Exception as exc:  # QuestionError and friends, raised before the answer starts
            failure = exc
        if answer is None:
            chat[-1] = {"role": "assistant", "content": _problem(failure or RuntimeError("no answer"))}
            yield chat, [*turns, {"question": question, "answer": None, "error": str(failure)}], gr.skip(), ""
            return
        chat[-1] = {"role": "assistant", "content": render_answer(answer, uuid.uuid4().hex[:8])}
        turns = [*turns, {"question": question, "answer": answer.model_dump(mode="json", exclude={"contexts"})}]
        yield chat, turns, render_sources(answer), ""

    return respond


def make_rate(portal: Portal):
    ratings = portal.settings.serving.ratings_file or portal.settings.data_dir / "ratings.jsonl"

    def rate(turns: list[dict] | None, comment: str, collection: str | None, data: gr.LikeData) -> tuple[Any, str]:
        """Append a rating (with the question, answer and citations) to the ratings JSONL file."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = (turns or [])[index // 2] if 0 <= index // 2 < len(turns or []) else None
        rating = {True: "up", "Like": "up", False: "down", "Dislike": "down"}.get(data.liked)
        if turn is None or rating is None:
            return gr.skip(), ""
        answer = turn.get("answer") or {}
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "rating": rating, "collection": collection,
            "comment": (comment or "").strip() or None, "question": turn["question"],
            "answer": answer.get("answer"), "abstained": answer.get("abstained"),
            "citations": answer.get("citations", []), "error": turn.get("error"),
        }
        with _ratings_lock:
            ratings.parent.mkdir(parents=True, exist_ok=True)
            with ratings.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "", f"Thanks: your rating ({'thumbs up' if rating == 'up' else 'thumbs down'}) was saved."

    return rate


# ---------------------------------------------------------------- sources tab


def _source_rows(portal: Portal, collection: str | None, request: gr.Request) -> tuple[list[list], Any]:
    try:
        infos = portal.open(collection, _caller(portal, request)).sources()
    except EXPECTED as exc:
        log.info("ui sources: %s", exc)
        infos = []
    rows = [[i.name, i.title, i.kind.lstrip(".") or "?", _extent(i), i.chunks, i.ingested_at,
             "; ".join(i.warnings), i.id] for i in infos]
    choices = [(f"{i.name} — {i.title}", i.id) for i in infos]
    return rows, gr.update(choices=choices, value=None)


def _extent(info) -> str:
    pages = f"{info.pages} pages, " if info.pages else ""
    return f"{pages}{info.sections} section{'s' if info.sections != 1 else ''}"


def make_ingest(portal: Portal, upload_folder: Path):
    def ingest(paths: list[str] | None, collection: str | None, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, str, None]:  # noqa: B008
        rows = lambda: _source_rows(portal, collection, request)  # noqa: E731
        if not paths:
            return *rows(), "Choose one or more files first.", None
        checked = [received_upload(p, upload_folder) for p in paths]
        received = [p for p in checked if p is not None]
        if len(received) < len(checked):  # a path Gradio did not receive: never read it, never say if it exists
            log.warning("ui ingest refused: a file path outside Gradio's upload folder")
            return *rows(), "⚠️ Those files were not uploaded through this page; add them again.", None

        def report(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"ingesting {name}" if name else "done", unit="files")

        try:
            caller = _caller(portal, request)
            served = portal.open(collection, caller, write=True)
            with ExitStack() as stack:
                # Gradio keeps the uploaded file's name, in a folder of its own
                files = [(p.name, stack.enter_context(p.open("rb"))) for p in received]
                result = served.ingest_uploads(files, progress=report, actor="ui " + caller.id)
        except EXPECTED as exc:
            return *rows(), f"⚠️ {html.escape(str(exc))}", None
        finally:
            discard_uploads(received, upload_folder)
        status = (f"Added {len(result.added)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}; "
                  f"{result.chunks} new chunks.")
        if result.failed:
            status += " Skipped: " + "; ".join(html.escape(f.message) for f in result.failed)
        return *rows(), status, None

    return ingest


def _caller(portal: Portal, request: gr.Request) -> Caller:
    """Who is using the UI (the signed-in key, for scopes and the audit log), from the request's cookie."""
    return portal.caller(request.headers, request.client.host if request.client else None)


def received_upload(raw: str, upload_folder: Path) -> Path | None:
    """The file Gradio stored for this upload, or None when ``raw`` points anywhere else.

    Under ``gr.mount_gradio_app`` Gradio does not check ``FileData.path`` itself, so a caller could name any
    file on the server; only a regular file inside Gradio's upload folder (links resolved) is accepted.
    """
    try:
        path = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return path if upload_folder in path.parents and path.is_file() else None


def discard_uploads(paths: list[Path], upload_folder: Path) -> None:
    """Gradio's copies go once ingested (the stored upload is ours); so do their emptied folders."""
    for path in paths:
        path.unlink(missing_ok=True)
        if path.parent != upload_folder:
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def make_remove(portal: Portal):
    def remove(source: str | None, collection: str | None, request: gr.Request) -> tuple[Any, Any, str]:
        rows = lambda: _source_rows(portal, collection, request)  # noqa: E731
        if not source:
            return *rows(), "Choose a document to remove."
        try:
            caller = _caller(portal, request)
            removed = portal.open(collection, caller, write=True).remove(source, actor="ui " + caller.id)
        except EXPECTED as exc:
            return *rows(), f"⚠️ {html.escape(str(exc))}"
        message = f"Removed {html.escape(removed.name)}." if removed else "That document is already gone."
        return *rows(), message

    return remove


# ---------------------------------------------------------------- layout


def _example_text(event: gr.SelectData) -> str:
    return event.value["text"] if isinstance(event.value, dict) else str(event.value)


def _collections(portal: Portal):
    def collections(request: gr.Request) -> tuple[Any, ...]:
        """On page load: the collections the signed-in key may read (the selector shows only when there are
        several), the first one's examples, and its documents."""
        readable = portal.readable(_caller(portal, request))
        choices = [(f"{c.title} ({c.name})" if c.title != c.name else c.name, c.name) for c in readable]
        first = readable[0].name if readable else None
        selector = gr.update(choices=choices, value=first, visible=len(choices) > 1)
        return selector, _examples(portal, first), *_source_rows(portal, first, request)

    return collections


def _examples(portal: Portal, collection: str | None) -> Any:
    examples = portal.shelf.profile(collection).examples if collection and portal.shelf.exists(collection) else []
    return gr.update(examples=[{"text": q} for q in examples] or None, value=[])


def _switch(portal: Portal):
    def switch(collection: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Another collection: a fresh conversation with its examples, and its documents in the Sources tab."""
        return _examples(portal, collection), [], render_sources(None), *_source_rows(portal, collection, request)

    return switch


def build_ui(portal: Portal, upload_folder: Path, mode: str = "full") -> gr.Blocks:
    """The chat and the Sources tab; in ``read-only`` mode the tab lists documents and has no way to change them."""
    with gr.Blocks(title="Grounded assistant", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("## Grounded assistant\nAnswers only from your documents. Click a **[n]** to see the passage.")
        turns = gr.State([])
        collection = gr.Dropdown(label="Collection", choices=[DEFAULT_COLLECTION], value=DEFAULT_COLLECTION,
                                 visible=False, elem_id="collection", interactive=True)
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat", label="Conversation", show_label=False, height=560, latex_delimiters=[],
                    buttons=["copy"], layout="panel", feedback_options=("Like", "Dislike"),
                    placeholder="Ask about the documents, or start with an example.",
                )
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question", show_label=False, scale=5, elem_id="question",
                                     max_lines=6, submit_btn="Ask")
                comment = gr.Textbox(label="Comment (optional): saved with your thumbs up or down", max_lines=3)
                feedback = gr.Markdown()
            with gr.Column(scale=2), gr.Accordion("Sources of the last answer", open=True):
                panel = gr.HTML(render_sources(None), elem_id="sources-panel")
        with gr.Tab("Sources"):
            table = gr.Dataframe(headers=["file", "title", "type", "pages / sections", "chunks", "ingested",
                                          "warnings", "id"], interactive=False)
            pick = gr.Dropdown(label="Remove a document", choices=[], visible=mode == "full")
            if mode == "full":
                _source_editing(portal, upload_folder, table, pick, collection)
            else:
                gr.Markdown("This server's UI is read-only: documents are added and removed by its operators.")

        respond = make_respond(portal)
        outputs = [chatbot, turns, panel, box]
        box.submit(respond, [box, chatbot, turns, collection], outputs, api_name="chat")
        chatbot.example_select(_example_text, None, box, api_visibility="private", queue=False).then(
            respond, [box, chatbot, turns, collection], outputs, api_visibility="private")
        chatbot.clear(lambda: ([], render_sources(None)), None, [turns, panel], api_visibility="private")
        chatbot.like(make_rate(portal), [turns, comment, collection], [comment, feedback], api_visibility="private")
        collection.input(_switch(portal), collection, [chatbot, turns, panel, table, pick], api_visibility="private")
        demo.load(_collections(portal), None, [collection, chatbot, table, pick],
                  api_visibility="private")
    return demo


def _source_editing(portal: Portal, upload_folder: Path, table: gr.Dataframe, pick: gr.Dropdown,
                    collection: gr.Dropdown) -> None:
    """The Sources tab's upload and remove controls, and their events (full mode only)."""
    with gr.Row():
        files = gr.File(label="Add documents", file_count="multiple", file_types=list(SUPPORTED_SUFFIXES))
        ingest_btn = gr.Button("Ingest", variant="primary")
    remove_btn = gr.Button("Remove", variant="stop")
    status = gr.Markdown()
    ingest_btn.click(make_ingest(portal, upload_folder), [files, collection], [table, pick, status, files],
                     api_name="ingest")
    remove_btn.click(make_remove(portal), [pick, collection], [table, pick, status], api_name="remove")
