"""Who may use the server: keys cover the UI too, the UI's sign-in, read-only and off modes, the UI's file
paths, unknown routes and methods, bad ids, and a schema fuzzer run. Real servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.interfaces.serving import ServedAssistant
from tests.serving_helpers import API_KEY, QUESTION, Live, start

pytest_plugins = ["tests.serving_helpers"]  # the `live` server fixture

SECRET = "The Quornwell vault code is 7731 and it is kept in the east annex."
FILE_DATA = {"meta": {"_type": "gradio.FileData"}}


def _web(live: Live, **settings) -> Live:
    """The full web app (API + UI) over ``live``'s store, with other serving settings."""
    from assistant.interfaces.web import create_web_app

    bot = live.served.bot
    served = ServedAssistant(bot, bot.settings.but(**settings), lock=live.served.library.write_lock)
    return start(create_web_app(served), served)


@pytest.fixture(scope="module")
def keyed(live) -> Iterator[Live]:
    server = _web(live, api_keys=[API_KEY])
    yield server
    server.stop()


def _last_text(chat: list[dict]) -> str:
    content = chat[-1]["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def _call(client: httpx.Client, api: str, data: list) -> list[str]:
    """A Gradio endpoint called over raw HTTP: the event id, then the event stream's lines."""
    posted = client.post(f"/gradio_api/call/{api}", json={"data": data})
    assert posted.status_code == 200, posted.text
    streamed = client.get(f"/gradio_api/call/{api}/{posted.json()['event_id']}", timeout=120)
    return streamed.text.splitlines()


# ---------------------------------------------------------------- keys cover the UI


@pytest.mark.slow
def test_with_keys_no_ui_route_answers_without_one(keyed, tmp_path):
    secret = tmp_path / "outside.md"
    secret.write_text(f"# Vault\n\n{SECRET}\n", encoding="utf-8")
    before = {s.source for s in keyed.served.sources()}
    with keyed.client() as anonymous:
        calls = [
            anonymous.get("/config"), anonymous.get("/gradio_api/info"), anonymous.get("/gradio_api/config"),
            anonymous.post("/gradio_api/call/chat", json={"data": [QUESTION, [], []]}),
            anonymous.post("/gradio_api/call/ingest", json={"data": [[{"path": str(secret), **FILE_DATA}]]}),
            anonymous.post("/gradio_api/call/remove", json={"data": ["strategic-mechanism.md"]}),
            anonymous.post("/gradio_api/queue/join", json={"data": [QUESTION], "fn_index": 0, "session_hash": "x"}),
            anonymous.post("/gradio_api/upload", files={"files": ("x.exe", b"MZ" * 100)}),
            anonymous.get(f"/gradio_api/file={secret}"), anonymous.get("/api/sources"),
            anonymous.get("/", headers={"Accept": "application/json"}), anonymous.get(keyed.url + "//config"),
            anonymous.get(keyed.url + "/gradio_api//info"),
            anonymous.post(keyed.url + "//gradio_api/upload/", files={"files": ("x", b"x")}),
        ]
        page = anonymous.get("/", headers={"Accept": "text/html"})
        public = [anonymous.get(p) for p in ("/healthz", "/embed", "/login", "/openapi.json")]
    for response in calls:
        assert response.status_code == 401, (response.request.url, response.text[:200])
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert str(tmp_path) not in response.text
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    assert [r.status_code for r in public] == [200, 200, 200, 200]
    assert {s.source for s in keyed.served.sources()} == before


@pytest.mark.slow
def test_gradio_client_needs_the_key_and_works_with_it(keyed):
    from gradio_client import Client

    with pytest.raises(Exception):  # noqa: B017 - the client raises its own error types for a 401
        Client(f"{keyed.url}/", verbose=False)
    client = Client(f"{keyed.url}/", verbose=False, headers={"Authorization": f"Bearer {API_KEY}"})
    chat, _, _ = client.predict(QUESTION, [], api_name="/chat")
    assert "April 2022" in _last_text(chat)


@pytest.mark.slow
def test_the_ui_signs_in_with_a_key_and_the_cookie_opens_only_the_ui(keyed):
    with keyed.client() as visitor:
        wrong = visitor.post("/login", data={"key": "not-the-key", "next": "/"})
        assert wrong.status_code == 401 and "not valid" in wrong.text and "assistant_session" not in visitor.cookies
        signed = visitor.post("/login", data={"key": API_KEY, "next": "//evil.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/", "never back to another host"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and API_KEY.lower() not in cookie
        assert visitor.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert visitor.get("/config").status_code == 200
        lines = _call(visitor, "chat", [QUESTION, [], []])
        assert any("April 2022" in line for line in lines)
        assert visitor.post("/api/ask", json={"question": QUESTION}).status_code == 401, "the API takes keys only"
        forged = visitor.post("/gradio_api/call/chat", json={"data": [QUESTION, [], []]},
                              headers={"Origin": "https://evil.example"})
        assert forged.status_code == 401, "a write from another site's page is refused"
        token = visitor.cookies["assistant_session"]
        visitor.get("/logout")
        assert visitor.get("/config").status_code == 401, "signed out"
    fingerprint, expires, signature = token.split(".")
    forgeries = [f"{fingerprint}.{expires}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
                 f"{fingerprint}.{int(expires) + 10**6}.{signature}", f"{fingerprint}.1.{signature}", "x", ""]
    for forged in forgeries:
        with keyed.client(Cookie=f"assistant_session={forged}") as other:
            assert other.get("/config").status_code == 401, forged
    with keyed.client(Cookie=f"assistant_session={token}") as other:
        assert other.get("/config").status_code == 200, "the same cookie, in another client, still opens the UI"


@pytest.mark.slow
@pytest.mark.browser
def test_browser_asks_for_the_key_once_then_chats(page, keyed):
    page.goto(f"{keyed.url}/")
    assert "/login" in page.url
    page.get_by_label("API key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("That key is not valid.").wait_for()
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("Ask a question").fill(QUESTION)
    page.get_by_placeholder("Ask a question").press("Enter")
    page.locator("#chat a.cite-ref").first.wait_for()
    assert "April 2022" in page.locator("#chat").inner_text()
    page.goto(f"{keyed.url}/")  # the session cookie holds: no second sign-in
    page.get_by_placeholder("Ask a question").wait_for()
    assert "/login" not in page.url


# ---------------------------------------------------------------- the UI's file paths


@pytest.mark.slow
def test_the_ui_ingests_only_files_gradio_received(live, tmp_path):
    secret = tmp_path / "outside.md"
    secret.write_text(f"# Vault\n\n{SECRET}\n", encoding="utf-8")
    readme = Path(__file__).resolve().parent.parent / "README.md"
    before = {s.source for s in live.served.sources()}
    with live.client() as client:
        for path in (str(secret), str(readme), "/etc/hostname", "/no/such/file.md", "../../README.md"):
            for payload in ({"path": path, **FILE_DATA}, {"path": path}, {"value": {"path": path}}):
                for route in ("/gradio_api/call/ingest", "/gradio_api/queue/join"):
                    response = client.post(route, json={"data": [[payload]], "fn_index": 0, "session_hash": "s"})
                    assert response.status_code == 400, (route, payload, response.text[:300])
                    assert response.json()["error"]["code"] == "file_not_received"
                    text = response.text
                    assert str(tmp_path) not in text and "/no/such" not in text and "/etc" not in text
    assert {s.source for s in live.served.sources()} == before
    assert live.served.ask("What is the Quornwell vault code?").abstained


@pytest.mark.slow
def test_gradio_copies_are_removed_once_ingested(live, tmp_path):
    from gradio.utils import get_upload_folder as gradio_upload_folder
    from gradio_client import Client, handle_file

    doc = tmp_path / "copy check.md"
    doc.write_text("# Copy check\n\nThe Brindlemoor ferry first sailed in 1903.\n", encoding="utf-8")
    client = Client(f"{live.url}/", verbose=False)
    _, _, status, _ = client.predict([handle_file(str(doc))], api_name="/ingest")
    assert "Added 1" in status
    assert not [p for p in Path(gradio_upload_folder()).rglob("copy check.md")], "Gradio's copy is gone"
    [info] = [s for s in live.served.sources() if s.name.startswith("copy_check")]
    live.served.remove(info.id)


# ---------------------------------------------------------------- UI modes


@pytest.mark.slow
def test_a_read_only_ui_asks_but_cannot_change_the_collection(live):
    from gradio_client import Client

    server = _web(live, ui="read-only")
    try:
        before = {s.source for s in live.served.sources()}
        with server.client() as client:
            for route in ("/gradio_api/upload", "/gradio_api/upload/", "//gradio_api//upload"):
                upload = client.post(server.url + route, files={"files": ("x.md", b"# X\n\nx\n")})
                assert upload.status_code == 403 and upload.json()["error"]["code"] == "read_only", route
            info = client.get("/gradio_api/info").json()
            assert "/chat" in info["named_endpoints"]
            assert "/ingest" not in info["named_endpoints"] and "/remove" not in info["named_endpoints"]
            assert client.post("/gradio_api/call/remove", json={"data": ["x"]}).status_code >= 400
        chat, _, _ = Client(f"{server.url}/", verbose=False).predict(QUESTION, [], api_name="/chat")
        assert "April 2022" in _last_text(chat)
        assert {s.source for s in live.served.sources()} == before
    finally:
        server.stop()


@pytest.mark.slow
def test_with_the_ui_off_the_server_is_the_api_and_embed_only(live):
    server = _web(live, ui="off")
    try:
        with server.client() as client:
            root, config = client.get("/", headers={"Accept": "text/html"}), client.get("/config")
            assert root.status_code == 404 and root.json()["error"]["code"] == "not_found"
            assert config.status_code == 404
            assert client.get("/embed").status_code == 200
            assert client.post("/api/ask", json={"question": QUESTION}).json()["abstained"] is False
    finally:
        server.stop()


# ---------------------------------------------------------------- routes, methods and ids


@pytest.mark.slow
def test_unknown_routes_and_wrong_methods_get_the_error_shape(live):
    with live.client() as client:
        cases = {
            ("GET", "/api/nope"): 404, ("POST", "/v1/nope/deeper"): 404, ("GET", "/api"): 404,
            ("GET", "/api/ask"): 405, ("PUT", "/api/sources"): 405, ("DELETE", "/v1/chat/completions"): 405,
            ("POST", "/v1/models"): 405, ("PATCH", "/api/sources/abc"): 405,
        }
        for (method, path), status in cases.items():
            response = client.request(method, path)
            assert response.status_code == status, (method, path, response.text)
            error = response.json()["error"]
            assert error["message"] and error["code"] == {404: "not_found", 405: "method_not_allowed"}[status]
            if status == 405:
                assert response.headers["allow"]


@pytest.mark.slow
@pytest.mark.parametrize("raw", ["~user", "~root/x.md", "%00", "a%00b", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%ff%fe"])
def test_a_bad_source_id_is_a_404_never_a_500(live, raw):
    before = {s.source for s in live.served.sources()}
    with live.client() as client:
        response = client.delete(f"/api/sources/{raw}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert {s.source for s in live.served.sources()} == before


# ---------------------------------------------------------------- fuzzing the schema


@pytest.fixture(scope="module")
def fuzzed(live) -> Iterator[Live]:
    """The API alone on its own store (uploads from the fuzzer must not reach the shared one)."""
    from assistant.interfaces.api import create_api
    from assistant.service import Assistant

    folder = live.data_dir.parent / "fuzzed"
    bot = Assistant(live.served.bot.settings.model_copy(update={"data_dir": folder}), embedder=live.served.bot.embedder)
    bot.ingest([live.served.bot.settings.default_corpus])
    served = ServedAssistant(bot)
    server = start(create_api(served), served)
    yield server
    server.stop()


@pytest.mark.slow
def test_schema_fuzzing_finds_no_server_error_and_no_schema_violation(fuzzed, caplog):
    """schemathesis: every operation of /openapi.json, bounded examples; no 5xx, responses match the schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    c = schemathesis.checks
    checks = [c.not_a_server_error, c.status_code_conformance, c.content_type_conformance,
              c.response_schema_conformance]
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            try:
                case.call_and_validate(checks=checks, timeout=60)
            except Exception as exc:  # collected per operation, so one report names all of them
                failures.append(f"{case.operation.label}: {str(exc)[:300]}")
                raise

        with contextlib.suppress(Exception):
            run()
    assert failures == []
    assert not [r for r in caplog.records if r.levelname == "ERROR" and "unexpected error" in r.getMessage()]


def test_the_schema_states_what_the_server_enforces(live):
    with live.client() as client:
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    question = schemas["Question"]["properties"]["question"]
    assert question["minLength"] == 1 and re.search(question["pattern"], " x ")
    assert "" not in schemas["Message"]["properties"]["role"]["enum"]
    role = schemas["ChatMessageIn"]["properties"]["role"]
    assert "" not in role["enum"] and "user" in role["enum"]
    upload = next(v for k, v in schemas.items() if k.startswith("Body_upload_sources"))
    assert upload["properties"]["files"]["minItems"] == 1
    delete = spec["paths"]["/api/sources/{source_id}"]["delete"]["parameters"][0]["schema"]
    assert delete["minLength"] == 1
