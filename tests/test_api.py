"""The HTTP API on a real uvicorn server: the answer contract, streaming, limits, uploads, auth, health."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from assistant.interfaces.openai_compat import answer_pieces
from assistant.records import Answer
from assistant.uploads import UploadRefused, stored_name, stored_names
from tests.serving_helpers import API_KEY, OFF_TOPIC, QUESTION, source_text

pytest_plugins = ["tests.serving_helpers"]  # the `live` and `strict` server fixtures

UPLOAD_TEXT = (
    "# Zorblat Lighthouse\n\nThe Zorblat Lighthouse was built in 1911 by the harbour guild of Quellport.\n\n"
    "Its lamp burns whale-free paraffin and can be seen from forty kilometres away.\n"
)


def sse_events(body: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in re.split(r"\r?\n\r?\n", body.strip()):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event", "message"), fields["data"]))
    return events


def assert_verbatim(answer: Answer) -> None:
    for citation in answer.citations:
        assert source_text(citation.source)[citation.start : citation.end] == citation.quote


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str), body
    return body["error"]["message"]


# ---------------------------------------------------------------- pure helpers (no server)


def test_answer_pieces_split_after_markers_and_join_back():
    text = "First fact, 1.5 percent. [1] Second [x] fact. [2][3] Third."
    pieces = answer_pieces(text)
    assert pieces == ["First fact, 1.5 percent. [1] ", "Second [x] fact. [2][3] ", "Third."]
    assert "".join(pieces) == text
    assert answer_pieces("The documents do not cover this.") == ["The documents do not cover this."]
    assert answer_pieces("") == []


@pytest.mark.parametrize(("raw", "stored"), [
    ("../../evil.md", "evil.md"), ("..\\..\\windows\\evil.TXT", "evil.TXT"), ("отчёт.md", "отчёт.md"),
    ("报告.md", "报告.md"), ("/abs/path/notes_v2-final.pdf", "notes_v2-final.pdf"),
])
def test_upload_names_that_are_safe_are_kept_as_they_are(raw, stored):
    assert stored_name(raw) == stored


@pytest.mark.parametrize(("raw", "shape"), [
    ("my report (v2).PDF", r"my_report_v2-[0-9a-f]{10}\.PDF"), ("/abs/path/.hidden.md", r"hidden-[0-9a-f]{10}\.md"),
    ("..md", r"upload-[0-9a-f]{10}\.md"), (".md", r"upload-[0-9a-f]{10}\.md"),
    ("ünïcode notes.md", r"ünïcode_notes-[0-9a-f]{10}\.md"), ("a\u202egpj.md", r"a_gpj-[0-9a-f]{10}\.md"),
    ("-rf.md", r"rf-[0-9a-f]{10}\.md"), ("x" * 300 + ".md", r"x{150}-[0-9a-f]{10}\.md"),
])
def test_upload_names_lose_folders_and_odd_characters_but_never_collide(raw, shape):
    assert re.fullmatch(shape, stored_name(raw))


def test_distinct_upload_names_are_stored_under_distinct_names():
    raw = ["отчёт.md", "доклад.md", "报告.md", ".md", "..md", "a b.md", "a_b.md", "a  b.md", "a?b.md", "A b.md"]
    names = stored_names(raw)
    assert len(set(names)) == len(raw), names


@pytest.mark.parametrize("raw", ["../../etc/passwd", "evil.exe", "archive.md.zip", "", "noext"])
def test_upload_names_need_a_supported_suffix(raw):
    with pytest.raises(UploadRefused) as caught:
        stored_name(raw)
    assert caught.value.kind == "unsupported"


# ---------------------------------------------------------------- asking


@pytest.mark.slow
def test_ask_returns_the_answer_contract_with_verbatim_citations(live):
    with live.client() as client:
        response = client.post("/api/ask", json={"question": QUESTION})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(Answer.model_fields)
    answer = Answer.model_validate(body)
    assert not answer.abstained and "April 2022" in answer.answer
    assert answer.citations
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)} == {c.n for c in answer.citations}
    assert_verbatim(answer)
    assert {c.chunk_id for c in answer.citations} <= {c.chunk_id for c in answer.contexts}


@pytest.mark.slow
def test_ask_passes_history_for_follow_ups(live):
    first = "What happened to the 2018 working groups?"
    with live.client() as client:
        alone = client.post("/api/ask", json={"question": "Why did they fail?"}).json()
        previous = client.post("/api/ask", json={"question": first}).json()
        history = [{"role": "user", "content": first}, {"role": "assistant", "content": previous["answer"]}]
        follow = client.post("/api/ask", json={"question": "Why did they fail?", "history": history}).json()
    assert alone["standalone_question"] == "Why did they fail?"
    assert "2018 working groups" in follow["standalone_question"]
    assert not follow["abstained"]


@pytest.mark.slow
def test_off_topic_question_abstains_without_citations(live):
    with live.client() as client:
        response = client.post("/api/ask", json={"question": OFF_TOPIC})
    assert response.status_code == 200
    answer = Answer.model_validate(response.json())
    assert answer.abstained and answer.citations == [] and answer.reason


@pytest.mark.slow
def test_stream_sends_tokens_then_the_full_answer(live):
    with live.client() as client, client.stream("POST", "/api/ask/stream", json={"question": QUESTION}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and kinds[:-1] and set(kinds[:-1]) == {"token"}
    final = Answer.model_validate_json(events[-1][1])
    assert final.citations and not final.abstained
    assert_verbatim(final)
    streamed = "".join(json.loads(data)["text"] for _, data in events[:-1])
    for citation in final.citations:  # the extractive answerer streams its cited sentences
        assert f"{citation.quote} [{citation.n}]" in streamed


@pytest.mark.slow
def test_stream_of_an_off_topic_question_ends_with_the_abstention(live):
    with live.client() as client:
        events = sse_events(client.post("/api/ask/stream", json={"question": OFF_TOPIC}).text)
    assert events[-1][0] == "answer" and Answer.model_validate_json(events[-1][1]).abstained


@pytest.mark.slow
@pytest.mark.parametrize(("body", "status", "words"), [
    ({"question": "   "}, 400, "empty"),
    ({"question": "why " * 600}, 400, "limit"),
    ({"history": []}, 422, "question"),
    ({"question": "Why?", "history": [{"role": "robot", "content": "hi"}]}, 422, "role"),
    ({"question": "Why?", "history": [{"role": "user", "content": "x"}] * 101}, 422, "limit is 100"),
])
def test_bad_questions_get_a_4xx_json_error(live, body, status, words):
    with live.client() as client:
        response = client.post("/api/ask", json=body)
        stream = client.post("/api/ask/stream", json=body)
    assert response.status_code == status and stream.status_code == status
    assert words in error_message(response) and words in error_message(stream)


@pytest.mark.slow
def test_oversized_bodies_are_refused_declared_or_streamed(live):
    huge = json.dumps({"question": "x" * (70 * 1024)}).encode()  # the live server allows 64 KiB

    def chunked():
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    with live.client() as client:
        declared = client.post("/api/ask", content=huge, headers={"content-type": "application/json"})
        streamed = client.post("/api/ask", content=chunked(), headers={"content-type": "application/json"})
    assert "content-length" not in streamed.request.headers
    for response in (declared, streamed):
        assert response.status_code == 413 and "too large" in error_message(response)


# ---------------------------------------------------------------- sources


def _upload(client: httpx.Client, name: str, data: bytes, **headers: str) -> httpx.Response:
    return client.post("/api/sources", files={"files": (name, data, "application/octet-stream")}, headers=headers)


def _stored_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_upload_ask_and_delete_a_document(live):
    uploads = live.data_dir / "uploads"
    with live.client() as client:
        response = _upload(client, "../../zorblat lighthouse.md", UPLOAD_TEXT.encode())
        assert response.status_code == 200, response.text
        report = response.json()
        [info] = report["sources"]
        name = stored_name("zorblat lighthouse.md")  # the space is replaced, so the name gets a tag
        assert name.startswith("zorblat_lighthouse-") and name.endswith(".md")
        assert info["uploaded"] and info["name"] == name and report["added"] == [info["source"]]
        assert Path(info["source"]) == (uploads / name).resolve()
        assert info["id"] in {s["id"] for s in client.get("/api/sources").json()}

        asked = client.post("/api/ask", json={"question": "When was the Zorblat Lighthouse built?"})
        answer = Answer.model_validate(asked.json())
        assert not answer.abstained and "1911" in answer.answer
        assert answer.citations[0].source == info["source"]
        assert_verbatim(answer)

        deleted = client.delete(f"/api/sources/{info['id']}")
        assert deleted.status_code == 200 and deleted.json()["source"] == info["source"]
        assert info["id"] not in {s["id"] for s in client.get("/api/sources").json()}
        assert not Path(info["source"]).exists()
        again = client.delete(f"/api/sources/{info['id']}")
    assert again.status_code == 404 and "no stored source" in error_message(again)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "data", "status", "words"), [
    ("tool.exe", b"MZ\x90\x00", 415, "unsupported file type"),
    ("../../etc/passwd", b"root:x:0:0::/root:/bin/bash\n", 415, "unsupported file type"),
    ("binary.md", b"\x00\x01\x02" * 100, 422, "binary"),
    ("empty.txt", b"   \n", 422, "no text"),
])
def test_bad_uploads_are_refused_and_leave_nothing_behind(live, name, data, status, words):
    uploads = live.data_dir / "uploads"
    before_files = _stored_files(uploads) if uploads.exists() else set()
    with live.client() as client:
        before = client.get("/api/sources").json()
        response = _upload(client, name, data)
        after = client.get("/api/sources").json()
    assert response.status_code == status and words in error_message(response)
    assert after == before
    assert (_stored_files(uploads) if uploads.exists() else set()) == before_files
    assert not [p for p in _stored_files(live.data_dir.parent.parent) if p.name == Path(name).name]


# ---------------------------------------------------------------- auth, CORS, upload limit


@pytest.mark.slow
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
                                     {"Authorization": f"Basic {API_KEY}"}, {"Authorization": "Bearer"}])
def test_api_routes_need_the_key(strict, headers):
    with strict.client(**headers) as client:
        sources_before = strict.served.sources()
        files_before = _stored_files(strict.data_dir)
        responses = [
            client.post("/api/ask", json={"question": QUESTION}),
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}),
            client.get("/v1/models"),
            client.get("/api/sources"),
            _upload(client, "sneaky.md", UPLOAD_TEXT.encode()),
            client.delete(f"/api/sources/{sources_before[0].id}"),
        ]
    for response in responses:
        assert response.status_code == 401, response.request.url
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in error_message(response)
    assert strict.served.sources() == sources_before
    assert _stored_files(strict.data_dir) == files_before


@pytest.mark.slow
def test_the_right_key_opens_the_api_and_health_stays_public(strict):
    for key in (API_KEY, "second-key"):
        with strict.client(Authorization=f"Bearer {key}") as client:
            assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
            assert client.get("/v1/models").status_code == 200
    with strict.client() as client:
        assert client.get("/healthz").status_code == 200


@pytest.mark.slow
def test_upload_over_the_limit_is_refused_before_ingest(strict):
    big = b"# Big\n\n" + b"All work and no play. " * 1000  # 22 KB; the strict server allows 10 KiB
    with strict.client(Authorization=f"Bearer {API_KEY}") as client:
        before = client.get("/api/sources").json()
        response = _upload(client, "big.md", big)
        assert client.get("/api/sources").json() == before
    assert response.status_code == 413 and "limit" in error_message(response)
    assert not (strict.data_dir / "uploads" / "big.md").exists()


@pytest.mark.slow
def test_cors_allows_only_the_configured_origins(strict):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with strict.client() as client:
        allowed = client.options("/api/ask", headers={"Origin": "https://allowed.example", **preflight})
        denied = client.options("/api/ask", headers={"Origin": "https://evil.example", **preflight})
        unauthorized = client.post("/api/ask", json={"question": "x"}, headers={"Origin": "https://allowed.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://allowed.example"
    assert "access-control-allow-origin" not in denied.headers
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == "https://allowed.example"


# ---------------------------------------------------------------- health, schema, embed page


@pytest.mark.slow
def test_healthz_reports_model_store_and_chunks(live):
    with live.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["model_loaded"] and health["store_reachable"]
    assert health["chunks"] == live.served.bot.collection.count() > 0
    assert health["sources"] == len(live.served.sources())


@pytest.mark.slow
def test_models_list_the_served_model(live):
    with live.client() as client:
        listed = client.get("/v1/models").json()
        one = client.get("/v1/models/grounded-assistant")
        unknown = client.get("/v1/models/gpt-9")
    assert listed["object"] == "list" and [m["id"] for m in listed["data"]] == ["grounded-assistant"]
    assert one.status_code == 200 and one.json()["id"] == "grounded-assistant"
    assert unknown.status_code == 404 and "unknown model" in error_message(unknown)


@pytest.mark.slow
def test_openapi_schema_matches_the_responses(live):
    with live.client() as client:
        schema = client.get("/openapi.json").json()
        answer = client.post("/api/ask", json={"question": QUESTION}).json()
        sources = client.get("/api/sources").json()
    components = schema["components"]["schemas"]
    ok = schema["paths"]["/api/ask"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Answer"}
    assert set(components["Answer"]["properties"]) == set(answer)
    assert set(components["Citation"]["properties"]) == set(answer["citations"][0])
    assert set(components["SourceInfo"]["properties"]) == set(sources[0])
    assert "ErrorBody" in components and {"/v1/chat/completions", "/api/sources/{source_id}"} <= set(schema["paths"])


@pytest.mark.slow
def test_embed_page_escapes_its_title(live):
    with live.client() as client:
        default = client.get("/embed")
        custom = client.get("/embed", params={"title": "<script>alert(1)</script> Q&A"})
    assert default.status_code == 200 and default.headers["content-type"].startswith("text/html")
    assert "<h1>Ask the documents</h1>" in default.text and "api/ask" in default.text
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; Q&amp;A</h1>" in custom.text
    assert "<script>alert(1)" not in custom.text


@pytest.mark.slow
def test_embed_page_runs_only_its_own_script_under_a_strict_csp(live):
    with live.client() as client:
        page = client.get("/embed")
        script = client.get("/embed.js")
        style = client.get("/embed.css")
        other = client.get("/embed.py")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "*"  # the page is made for other sites' iframes
    assert "<script>" not in page.text and "<style>" not in page.text and 'src="embed.js"' in page.text
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "textContent" in script.text and "innerHTML" not in script.text
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert other.status_code == 404


# ---------------------------------------------------------------- `assistant serve`


@pytest.mark.slow
def test_serve_on_a_taken_port_says_so_in_one_line_and_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = subprocess.run([str(Path(sys.executable).with_name("assistant")), "serve", "--port", str(port)],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use; pick another with --port"
    assert "Serving on" not in result.stdout
    assert not (tmp_path / "data").exists(), "it fails before loading the model or ingesting anything"
