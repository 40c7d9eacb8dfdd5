"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's own, with the bundled GGUF."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from assistant.llm import bundled_gguf_path
from ingest.loaders import load
from tests.conftest import CORPUS

pytest.importorskip("llama_cpp.server.app", reason="the llm extra (llama-cpp-python[server]) is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=(log := (tmp_path_factory.mktemp("llama") / "server.log").open("w")))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.name}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start in 120 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_generated_answers_from_a_real_server_keep_only_verified_sentences(make_assistant, llama_server):
    bot = make_assistant(llm="openai", llm_base_url=llama_server, llm_model="smollm2", llm_max_tokens=120)
    bot.ingest([CORPUS])
    answer = bot.ask("When was the U.S.-Turkey Strategic Mechanism announced?")
    assert not answer.abstained and answer.backend in {"openai", "extractive"}  # extractive: nothing survived
    source = load(CORPUS).text
    for citation in answer.citations:
        assert source[citation.start : citation.end] == citation.quote
    assert answer.verdicts, "the model's sentences were judged one by one"
    kept = [v for v in answer.verdicts if v.verdict != "dropped"]
    assert (answer.backend == "openai") == bool(kept)
    assert answer.dropped_sentences == len(answer.verdicts) - len(kept)
    numbers = {c.n for c in answer.citations}
    assert all(set(v.citations) <= numbers and v.citations for v in kept)


def test_an_unanswerable_question_never_reaches_the_server(make_assistant, llama_server):
    bot = make_assistant(llm="openai", llm_base_url=llama_server, llm_model="smollm2")
    bot.ingest([CORPUS])
    answer = bot.ask("What is the capital of Australia?")
    assert answer.abstained and answer.verdicts == [] and answer.citations == []
