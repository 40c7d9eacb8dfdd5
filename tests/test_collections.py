"""Several collections in one server: each answers only from its own documents, and each key sees only the
collections its scopes name (a collection it may not read is 404, exactly like one that does not exist)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from assistant.interfaces.cli import app as cli_app
from assistant.interfaces.keys import key_entry
from assistant.interfaces.portal import Portal
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.shelf import CollectionProfile, Shelf
from tests.conftest import CORPUS
from tests.serving_helpers import QUESTION, Live, start

HR_FACT = "Employees get 27 days of paid annual leave per year."
HR_QUESTION = "How many days of paid annual leave do employees get?"
ENG_FACT = "The build server restarts every Sunday at 03:00 UTC for maintenance."
ENG_QUESTION = "When does the build server restart?"
KEYS = {"admin": "admin-key-0123456789abcdef", "hr-reader": "hr-reader-0123456789abcdef",
        "hr-writer": "hr-writer-0123456789abcdef", "article-reader": "article-reader-0123456789ab"}


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture(scope="module")
def portal_server(embedder, tmp_path_factory) -> Iterator[tuple[Live, Path]]:
    """The web app over three collections (the article as default, hr, eng) with a key file of four keys."""
    from assistant.interfaces.web import create_web_app

    root = tmp_path_factory.mktemp("portal")
    key_file = root / "keys.toml"
    key_file.write_text("".join([
        key_entry("admin", KEYS["admin"], [], [], True),
        key_entry("hr-reader", KEYS["hr-reader"], ["hr"], [], False),
        key_entry("hr-writer", KEYS["hr-writer"], [], ["hr"], False),
        key_entry("article-reader", KEYS["article-reader"], ["default"], [], False),
    ]), encoding="utf-8")
    settings = Settings(data_dir=root / "data", key_file=key_file)
    bot = Assistant(settings, embedder=embedder)
    bot.ingest([CORPUS])
    shelf = Shelf(settings, default=bot)
    for name, fact, title in (("hr", HR_FACT, "HR policies"), ("eng", ENG_FACT, "Engineering handbook")):
        doc = root / f"{name}-docs" / f"{name}.md"
        doc.parent.mkdir()
        doc.write_text(f"# {title}\n\n{fact}\n", encoding="utf-8")
        profile = CollectionProfile(title=title, examples=[HR_QUESTION if name == "hr" else ENG_QUESTION])
        shelf.create(name, profile).ingest([doc])
    portal = Portal(ServedAssistant(bot))
    server = start(create_web_app(portal), portal.default)
    yield server, key_file
    server.stop()


def _ask(client: httpx.Client, question: str, collection: str | None = None) -> httpx.Response:
    return client.post("/api/ask", json={"question": question, **({"collection": collection} if collection else {})})


def test_each_collection_answers_only_from_its_own_documents(portal_server):
    live, _ = portal_server
    with live.client(**_auth("admin")) as client:
        hr = _ask(client, HR_QUESTION, "hr").json()
        assert "27 days" in hr["answer"] and {c["source"].rsplit("/", 1)[-1] for c in hr["citations"]} == {"hr.md"}
        assert all("?collection=hr" in c["link"] for c in hr["citations"])
        opened = client.get(hr["citations"][0]["link"].split("#")[0])
        assert opened.status_code == 200 and HR_FACT in opened.text
        for question, elsewhere in ((HR_QUESTION, None), (HR_QUESTION, "eng"), (ENG_QUESTION, "hr")):
            answer = _ask(client, question, elsewhere).json()
            cited = {c["source"].rsplit("/", 1)[-1] for c in answer["citations"]}
            assert not cited & {"hr.md", "eng.md"} - ({f"{elsewhere}.md"} if elsewhere else set())
            assert "27 days" not in answer["answer"] and "03:00" not in answer["answer"]
        article = _ask(client, QUESTION).json()
        assert "April 2022" in article["answer"] and not article["abstained"]


def test_a_key_lists_and_reaches_only_the_collections_its_scopes_name(portal_server):
    live, _ = portal_server
    expected = {"admin": ["default", "eng", "hr"], "hr-reader": ["hr"], "hr-writer": ["hr"],
                "article-reader": ["default"]}
    for name, collections in expected.items():
        with live.client(**_auth(name)) as client:
            listed = client.get("/api/collections")
            assert listed.status_code == 200 and [c["name"] for c in listed.json()] == collections, name
            models = [m["id"] for m in client.get("/v1/models").json()["data"]]
            assert models == [("grounded-assistant" if c == "default" else c) for c in collections], name
    with live.client(**_auth("hr-reader")) as client:
        assert client.get("/api/collections/hr").json()["examples"] == [HR_QUESTION]
        assert _ask(client, HR_QUESTION, "hr").status_code == 200
        hidden = [_ask(client, HR_QUESTION, "eng"), _ask(client, QUESTION), client.get("/api/sources",
                  params={"collection": "eng"}), client.get("/api/collections/eng")]
        missing = [_ask(client, HR_QUESTION, "nosuch"), client.get("/api/collections/nosuch")]
        for reply in hidden + missing:  # no scope reads exactly like no such collection
            assert reply.status_code == 404 and reply.json()["error"]["code"] == "collection_not_found"
        assert client.get("/v1/models/eng").status_code == 404
        assert client.get("/api/sources", params={"collection": "hr"}).status_code == 200


def test_read_scope_cannot_write_write_scope_can_and_metrics_need_admin(portal_server):
    live, _ = portal_server
    note = [("files", ("policy-note.md", b"# Note\n\nRemote work is allowed two days a week.\n"))]
    with live.client(**_auth("hr-reader")) as reader:
        refused = reader.post("/api/sources", params={"collection": "hr"}, files=note)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "scope_missing"
        assert reader.delete("/api/sources/hr.md", params={"collection": "hr"}).status_code == 403
        assert reader.get("/metrics").status_code == 403
    with live.client(**_auth("hr-writer")) as writer:
        added = writer.post("/api/sources", params={"collection": "hr"}, files=note)
        assert added.status_code == 200 and added.json()["added"][0].endswith("collections/hr/uploads/policy-note.md")
        assert added.json()["sources"][0]["link"].endswith("?collection=hr")
        assert writer.post("/api/sources", params={"collection": "eng"}, files=note).status_code == 404
        assert writer.delete("/api/sources/policy-note.md", params={"collection": "hr"}).status_code == 200
    with live.client(**_auth("admin")) as admin:
        text = admin.get("/metrics").text
        assert 'assistant_chunks{collection="hr"}' in text and 'assistant_chunks{collection="default"}' in text


def test_the_openai_model_names_the_collection(portal_server):
    from openai import NotFoundError, OpenAI

    live, _ = portal_server
    client = OpenAI(base_url=f"{live.url}/v1", api_key=KEYS["hr-reader"])
    reply = client.chat.completions.create(model="hr", messages=[{"role": "user", "content": HR_QUESTION}])
    assert reply.model == "hr" and "27 days" in reply.choices[0].message.content
    assert reply.choices[0].message.annotations[0].url_citation.url.split("#")[0].endswith("?collection=hr")
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}])


def test_the_key_file_holds_only_hashes_and_a_removed_key_stops_working(portal_server):
    live, key_file = portal_server
    text = key_file.read_text(encoding="utf-8")
    assert not any(key in text for key in KEYS.values())
    with live.client(**_auth("hr-writer")) as client:
        assert client.get("/api/collections").status_code == 200
        kept = "".join(part and f"\n[keys.{part}" for part in text.split("\n[keys.") if part and
                       not part.startswith("hr-writer]"))
        key_file.write_text(kept, encoding="utf-8")
        try:
            time.sleep(1.2)  # the key file is looked at once a second
            assert client.get("/api/collections").status_code == 401
            with live.client(**_auth("hr-reader")) as other:
                assert other.get("/api/collections").status_code == 200, "the other keys still work"
        finally:
            key_file.write_text(text, encoding="utf-8")


def test_the_cli_takes_a_collection_everywhere(tmp_path):
    runner = CliRunner()
    doc = tmp_path / "hr.md"
    doc.write_text(f"# HR\n\n{HR_FACT}\n", encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli_app, ["ingest", "--collection", "hr", str(doc), *data]).exit_code == 0
    asked = runner.invoke(cli_app, ["ask", "-c", "hr", HR_QUESTION, "--json", *data])
    assert asked.exit_code == 0 and "27 days" in asked.stdout
    listed = runner.invoke(cli_app, ["collections", *data])
    assert listed.exit_code == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == ["default", "hr"]
    strict = runner.invoke(cli_app, ["collections", "set", "hr", "--min-evidence", "0.99", "--title", "HR", *data])
    assert strict.exit_code == 0, strict.output
    refused = runner.invoke(cli_app, ["ask", "-c", "hr", HR_QUESTION, "--json", *data])
    assert refused.exit_code == 0 and '"abstained": true' in refused.stdout, "the collection's own threshold holds"
    missing = runner.invoke(cli_app, ["sources", "-c", "nosuch", *data])
    assert missing.exit_code == 2 and "no collection 'nosuch'" in missing.output
    assert runner.invoke(cli_app, ["ask", "-c", "Bad Name", "x", *data]).exit_code == 2
    made = runner.invoke(cli_app, ["keys", "new", "portal", "--file", str(tmp_path / "keys.toml"), "--read", "hr"])
    assert made.exit_code == 0 and made.stdout.strip().startswith("ga-")
    assert made.stdout.strip() not in (tmp_path / "keys.toml").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.browser
def test_the_ui_switches_collections_and_embed_opens_with_the_collections_examples(page, portal_server):
    live, _ = portal_server
    page.goto(f"{live.url}/login?next=/")
    page.locator("input[name=key]").fill(KEYS["admin"])
    page.locator("button[type=submit]").click()
    selector = page.locator("#collection")
    selector.wait_for(state="visible")
    selector.locator("input").click()
    page.get_by_role("option", name="HR policies (hr)").click()
    page.locator("#chat").get_by_text(HR_QUESTION).click()  # the hr collection's example
    page.locator("#chat a.cite-ref").first.wait_for()
    assert "27 days" in page.locator("#chat").inner_text()

    page.goto(f"{live.url}/embed?collection=hr#key={KEYS['hr-reader']}")
    page.locator("h1", has_text="HR policies").wait_for()
    page.get_by_role("button", name=HR_QUESTION).click()
    page.locator("button.cite").first.wait_for()
    assert "27 days" in page.locator("#log").inner_text()
    assert page.locator("#examples").count() == 0, "the examples make way for the conversation"
    page.goto(f"{live.url}/embed?collection=eng#key={KEYS['hr-reader']}")
    page.locator(".error", has_text="Cannot open the collection").wait_for()


def test_a_ui_session_cannot_be_forged_from_the_key_file(portal_server):
    import hashlib
    import hmac

    live, key_file = portal_server
    digest = hashlib.sha256(KEYS["hr-reader"].encode()).digest()
    assert digest.hex() in key_file.read_text(encoding="utf-8")
    payload = f"hr-reader.{int(time.time()) + 3600}"
    forged = f"{payload}.{hmac.new(digest, payload.encode(), hashlib.sha256).hexdigest()}"
    with live.client() as client:
        opened = client.get("/", headers={"Cookie": f"assistant_session={forged}", "Accept": "text/html"})
        assert opened.status_code == 303 and opened.headers["location"].startswith("/login")
        signed = client.post("/login", data={"key": KEYS["hr-reader"], "next": "/"})
        assert signed.status_code == 303
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 200, "a real sign-in works"
