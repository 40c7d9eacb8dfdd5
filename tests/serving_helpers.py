"""Real servers for the serving tests: uvicorn in a background thread on a free loopback port.

The full web app (API + Gradio UI) is built once per session on a store holding the bundled article,
sharing the session's embedding model. Test modules load this as a plugin (`pytest_plugins`); helpers are
imported before pytest can rewrite their asserts, hence PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings
from tests.conftest import CORPUS

API_KEY = "test-key-0123456789"
QUESTION = "When was the U.S.-Turkey Strategic Mechanism announced?"
OFF_TOPIC = "What is the capital of Australia?"


@dataclass
class Live:
    url: str
    served: ServedAssistant
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def data_dir(self) -> Path:
        return self.served.settings.data_dir

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start(app, served: ServedAssistant) -> Live:
    """Serve ``app`` on 127.0.0.1 (port 0: the OS picks a free one) and wait until it accepts requests."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Live(f"http://127.0.0.1:{port}", served, server, thread)


def source_text(source: str) -> str:
    """The text citation offsets point into: the file's bytes decoded, newlines untouched."""
    return Path(source).read_bytes().decode("utf-8-sig")


_shared: dict[str, Live] = {}


@pytest.fixture(scope="session")
def live(embedder, tmp_path_factory) -> Iterator[Live]:
    """The full web app (API + UI) with the bundled article ingested, shared by every serving test."""
    from assistant.interfaces.web import create_web_app

    if "web" not in _shared:
        settings = Settings(data_dir=tmp_path_factory.mktemp("served") / "data", max_request_kb=64)
        bot = Assistant(settings, embedder=embedder)
        bot.ingest([CORPUS])
        served = ServedAssistant(bot)
        _shared["web"] = start(create_web_app(served), served)
    yield _shared["web"]
    if "web" in _shared:
        _shared.pop("web").stop()


@pytest.fixture(scope="session")
def strict(live) -> Iterator[Live]:
    """The API alone with an API key, a CORS origin and a tiny upload limit, on the same store as ``live``."""
    from assistant.interfaces.api import create_api

    if "strict" not in _shared:
        bot = live.served.bot
        settings = bot.settings.but(**{
            "api_keys": [API_KEY, "second-key"], "cors_origins": ["https://allowed.example"], "max_upload_mb": 0.01,
        })
        served = ServedAssistant(bot, settings, lock=live.served.library.write_lock)  # one store, one write lock
        _shared["strict"] = start(create_api(served), served)
    yield _shared["strict"]
    if "strict" in _shared:
        _shared.pop("strict").stop()


@pytest.fixture
def served(article_assistant) -> Iterator[Live]:
    """The HTTP API over ``article_assistant`` on a real uvicorn server (its own store, unlike ``live``)."""
    from assistant.interfaces.api import create_api

    shared = ServedAssistant(article_assistant)
    server = start(create_api(shared), shared)
    yield server
    server.stop()
