"""Shared fixtures: every test gets its own data dir; the embedding model loads once per session."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.evaluation import EvalQuestion, load_questions

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus" / "strategic-mechanism.md"
DEV_QUESTIONS = Path(__file__).parent / "data" / "dev_questions.jsonl"
# A small document that is not in the article, for tests that add one and ask about it.
NOTE_TEXT = "# Zorblat Lighthouse\n\nThe Zorblat Lighthouse was built in 1911 by the harbour guild of Quellport.\n"
NOTE_QUESTION = "When was the Zorblat Lighthouse built?"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never `playwright install`
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Set by scripts/test.sh for its second pass: the store tests again, against a `chroma run` server.
CHROMA_URL = os.environ.get("ASSISTANT_CHROMA_URL") or None


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own store: Settings() and the CLI pick it up from the environment."""
    folder = tmp_path / "data"
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(folder))
    if CHROMA_URL:  # one server for all tests: each test gets its own collections on it
        monkeypatch.setenv("ASSISTANT_CHROMA_PREFIX", f"t{uuid.uuid4().hex[:12]}-")
    monkeypatch.chdir(tmp_path)  # no stray .env from the repo root
    return folder


@pytest.fixture(scope="session")
def benchmark_data(tmp_path_factory) -> Path:
    """One data dir for the benchmark's stores: the answer and the verification benchmarks ingest them once."""
    return tmp_path_factory.mktemp("benchmark-data")


@pytest.fixture(scope="session")
def embedder():
    from store.embeddings import Embedder

    return Embedder()


@pytest.fixture
def make_assistant(embedder, data_dir: Path) -> Callable[..., object]:
    """Build an Assistant on this test's data dir, sharing the session's model."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    def build(**overrides):
        folder = overrides.pop("data_dir", data_dir)
        if CHROMA_URL and folder != data_dir and "chroma_prefix" not in overrides:  # another data dir,
            digest = hashlib.sha256(str(folder).encode()).hexdigest()[:6]  # another store on the server
            overrides["chroma_prefix"] = f"{os.environ['ASSISTANT_CHROMA_PREFIX']}{digest}-"
        return Assistant(Settings(data_dir=folder, **overrides), embedder=embedder)

    return build


@pytest.fixture
def article_assistant(make_assistant):
    """An assistant with the bundled article ingested."""
    bot = make_assistant()
    bot.ingest([CORPUS])
    return bot


@pytest.fixture(scope="session")
def dev_questions() -> list[EvalQuestion]:
    return load_questions(DEV_QUESTIONS)


@pytest.fixture
def tmp_files(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "files"
    folder.mkdir()
    yield folder


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
