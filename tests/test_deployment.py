"""`assistant serve --workers 2`: stateless workers that all follow writes made by another process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import NOTE_QUESTION, NOTE_TEXT, ROOT
from tests.test_cli import cli

pytestmark = pytest.mark.slow
ASSISTANT = ROOT / ".venv" / "bin" / "assistant"


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_DATA_DIR": str(data_dir)}


def _wait_for_address(proc: subprocess.Popen, timeout: float = 240, workers: int = 2) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        shown = rf"Serving on (http://\S+) with {workers} workers" if workers > 1 else r"Serving on (http://\S+)  \("
        if found := re.search(shown, line):
            return found.group(1)
    raise AssertionError(f"serve did not start (exit {proc.poll()}): {proc.stderr.read() if proc.stderr else ''}")


def _ask_fresh(url: str, question: str, history: list | None = None) -> dict:
    """A new connection per request, so the requests spread over the workers."""
    body = {"question": question, **({"history": history} if history else {})}
    response = httpx.post(f"{url}/api/ask", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_worker_answers_from_an_ingest_made_by_another_process(data_dir, tmp_files):
    note = tmp_files / "zorblat.md"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    proc = subprocess.Popen(
        [str(ASSISTANT), "serve", "--workers", "2", "--port", "0"], env=_env(data_dir),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        url = _wait_for_address(proc)
        assert _ask_fresh(url, NOTE_QUESTION)["abstained"]

        # neither worker writes: each must notice the CLI's ingest on its own
        ingested = cli(data_dir, "ingest", str(note))
        assert ingested.returncode == 0, ingested.stderr
        for _ in range(8):
            found = _ask_fresh(url, NOTE_QUESTION)
            assert not found["abstained"] and "1911" in found["answer"], found
            assert {c["source"] for c in found["citations"]} == {str(note.resolve())}

        history = [{"role": "user", "content": NOTE_QUESTION}, {"role": "assistant", "content": found["answer"]}]
        follow_up = _ask_fresh(url, "And who built it?", history)
        assert "harbour guild" in follow_up["answer"], follow_up

        removed = cli(data_dir, "remove", note.name)
        assert removed.returncode == 0, removed.stderr
        for _ in range(8):
            gone = _ask_fresh(url, NOTE_QUESTION)
            assert str(note.resolve()) not in {c["source"] for c in gone["contexts"]}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_one_process_serve_answers_logs_and_writes_audit_lines(data_dir, tmp_files):
    """The default `assistant serve`: the web app from its one factory, the API, the UI, JSON logs on stderr."""
    note = tmp_files / "zorblat.md"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    proc = subprocess.Popen([str(ASSISTANT), "serve", "--port", "0"], env=_env(data_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = _wait_for_address(proc, workers=1)
        assert "April 2022" in _ask_fresh(url, "When was the U.S.-Turkey Strategic Mechanism announced?")["answer"]
        assert "Grounded assistant" in httpx.get(f"{url}/", timeout=60).text  # the mounted chat UI
        with note.open("rb") as handle:
            assert httpx.post(f"{url}/api/sources", files={"files": (note.name, handle)}, timeout=120).is_success
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    logged = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert {"route": "/api/ask", "status": 200} in [{k: line.get(k) for k in ("route", "status")} for line in logged]
    assert [line["action"] for line in logged if "action" in line] == ["upload"]
