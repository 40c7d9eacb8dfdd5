"""Crash safety and consistency: kill -9 during ingest, then the same ingest converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import consistency
from tests.conftest import CHROMA_URL, NOTE_QUESTION, NOTE_TEXT, ROOT
from tests.test_cli import cli

pytestmark = pytest.mark.slow

WORDS = ("treaty summit alliance pipeline tariff election sanction reactor frontier corridor harbor census "
         "drought vaccine satellite railway lithium orchard glacier festival archive").split()

# The child ingests in small batches and stops dead at one chosen point, so the kill lands exactly
# there: "file:N" before the N-th file is read, "<step>:N" before that step of the N-th batch write.
INGEST_SCRIPT = """
import sys
import assistant.ingestion as ingestion
from assistant.service import Assistant
from assistant.settings import Settings
from tests.stop_points import StopPoint

data_dir, docs, point = sys.argv[1:4]
stop = StopPoint(point)
ingestion.BATCH_CHUNKS = 16
bot = Assistant(Settings(data_dir=data_dir))
stop.before(bot.collection.dense.sentences, "upsert", "sentences")
stop.before(bot.collection.dense.chunks, "upsert", "chunks")
stop.before(bot.collection.keyword, "add", "keyword")
stop.before(bot.collection.manifest, "save", "manifest")
bot.ingest([docs], progress=lambda done, total, name: stop.reached("file"))
print("DONE", flush=True)
"""

KILL_POINTS = (
    "file:1",  # nothing written yet
    "sentences:2",  # batch 1 committed, batch 2 not started
    "chunks:2",  # batch 2: sentence vectors in Chroma, chunk vectors not
    "keyword:2",  # batch 2: in Chroma, not in the keyword index
    "manifest:2",  # batch 2: in both indexes, not in the manifest
)


def _write_docs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        paragraphs = []
        for p in range(6):
            words = [WORDS[(i * 7 + p * 3 + w) % len(WORDS)] for w in range(40)]
            paragraphs.append(f"Document {i} paragraph {p} is about {' '.join(words)}.")
        (folder / f"doc{i:03d}.md").write_text(f"# Report {i}\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return folder


def _state(bot) -> tuple[set[str], set[str], set[str]]:
    entries = bot.collection.manifest.load()
    return (
        {cid for e in entries.values() for cid in e.chunk_ids},
        set(bot.collection.dense.all_ids()),
        set(bot.collection.keyword.all_ids()),
    )


def _prefix(name: str) -> str:
    """Own collections per store when the suite runs against one Chroma server (else no prefix)."""
    return f"{os.environ.get('ASSISTANT_CHROMA_PREFIX', '')}{name}-" if CHROMA_URL else ""


def _run_and_kill(data_dir: Path, docs: Path, point: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "ASSISTANT_CHROMA_PREFIX": _prefix(point.replace(":", "-"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(data_dir), str(docs), point],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline().strip()
    if line != "STOPPED":
        proc.kill()
        raise AssertionError(f"{point}: the ingest never reached its stop point: {line!r} {proc.stderr.read()[-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_killed_ingest_converges_to_the_uninterrupted_state(make_assistant, tmp_path):
    docs = _write_docs(tmp_path / "docs", 40)
    reference = make_assistant(data_dir=tmp_path / "reference", chroma_prefix=_prefix("reference"))
    reference.ingest([docs])
    expected = _state(reference)
    assert expected[0] == expected[1] == expected[2] and len(expected[0]) > 3 * 16  # several batches

    for point in KILL_POINTS:
        data_dir = tmp_path / point.replace(":", "-")
        _run_and_kill(data_dir, docs, point)
        bot = make_assistant(data_dir=data_dir, chroma_prefix=_prefix(point.replace(":", "-")))  # opens after kill
        bot.ingest([docs])
        assert _state(bot) == expected, f"killed at {point}"
        assert consistency.check(bot.collection).ok, point


def test_doctor_repairs_an_index_that_lost_chunks(article_assistant):
    bot = article_assistant
    ids = sorted(bot.collection.keyword.all_ids())
    bot.collection.keyword.delete(ids[:3])  # chunks lost from BM25 only
    bot.collection.dense.delete(ids[3:5])  # and from Chroma only
    report = consistency.check(bot.collection)
    assert not report.ok
    assert set(report.missing_keyword) == set(ids[:3]) and set(report.missing_dense) == set(ids[3:5])
    repaired = consistency.repair(bot.collection)
    assert repaired.ok, repaired.lines()
    assert set(bot.collection.dense.all_ids()) == set(bot.collection.keyword.all_ids()) == set(ids)
    answer = bot.ask("How many F-16 fighter jets and modernization kits did Turkey request?")
    assert "forty" in answer.answer


def test_unfinished_deletions_are_finished_by_the_next_write(article_assistant, tmp_files):
    bot = article_assistant
    note = tmp_files / "note.md"
    note.write_text("# Note\n\nThe harbor census counted eleven lighthouses along the coast.\n", encoding="utf-8")
    bot.ingest([note])
    entries = bot.collection.manifest.load()
    gone = entries.pop(str(note.resolve()))
    bot.collection.manifest.save(entries, pending_deletes=list(gone.chunk_ids))  # as if killed right here
    assert not consistency.check(bot.collection).ok
    bot.ingest([note.parent])  # any later write finishes the deletions first, then re-adds the note
    assert consistency.check(bot.collection).ok


def test_export_then_import_round_trips_a_collection_exactly(article_assistant, make_assistant, tmp_path, tmp_files):
    from store.transfer import TransferError, export_collection, import_collection

    bot = article_assistant
    note = tmp_files / "note.md"
    note.write_text("# Note\n\nThe harbor census counted eleven lighthouses along the coast.\n", encoding="utf-8")
    bot.ingest([note])
    backup = tmp_path / "backup.jsonl.gz"
    assert export_collection(bot.collection, backup) == (2, bot.collection.count())

    restored = make_assistant(data_dir=tmp_path / "restored")
    assert import_collection(restored.collection, backup) == (2, bot.collection.count())
    before, after = bot.collection.manifest.load(), restored.collection.manifest.load()
    assert {s: (e.content_hash, e.chunk_ids, e.chunking) for s, e in before.items()} == {
        s: (e.content_hash, e.chunk_ids, e.chunking) for s, e in after.items()
    }
    assert _state(restored) == _state(bot)
    assert consistency.check(restored.collection).ok
    question = "How many F-16 fighter jets and modernization kits did Turkey request?"
    assert restored.ask(question).answer == bot.ask(question).answer
    assert restored.ingest([note]).unchanged  # the restored store knows the file

    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"not gzip")
    with pytest.raises(TransferError):
        import_collection(restored.collection, garbage)


def _serve_article(embedder, data_dir: Path):
    """The API on a real loopback server over a store holding the bundled article: (assistant, live)."""
    from assistant.interfaces.api import create_api
    from assistant.interfaces.serving import ServedAssistant
    from assistant.service import Assistant
    from assistant.settings import Settings
    from tests.conftest import CORPUS
    from tests.serving_helpers import start

    bot = Assistant(Settings(data_dir=data_dir), embedder=embedder)
    bot.ingest([CORPUS])
    served = ServedAssistant(bot)
    return bot, start(create_api(served), served)


def test_a_running_server_answers_from_a_cli_ingest_at_once(embedder, tmp_path, tmp_files):
    """`assistant ingest` and `remove` in another process, while the server is answering: no restart,
    no failed request, and the new document is found by every ranking (vectors and keywords)."""
    import threading

    from tests.serving_helpers import QUESTION

    data_dir = tmp_path / "data"
    bot, live = _serve_article(embedder, data_dir)
    note = tmp_files / "zorblat.md"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def keep_asking() -> None:
        nonlocal answered
        with live.client() as client:
            while not stop.is_set():
                for question in (QUESTION, NOTE_QUESTION):
                    try:
                        response = client.post("/api/ask", json={"question": question})
                    except Exception as exc:  # any failure is what we count
                        failures.append(repr(exc))
                        continue
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    answered += 1

    def ask_note() -> dict:
        with live.client() as client:
            response = client.post("/api/ask", json={"question": NOTE_QUESTION})
        assert response.status_code == 200, response.text
        return response.json()

    asker = threading.Thread(target=keep_asking, daemon=True)
    try:
        assert ask_note()["abstained"]
        asker.start()
        ingested = cli(data_dir, "ingest", str(note))
        assert ingested.returncode == 0, ingested.stderr
        found = ask_note()
        assert not found["abstained"] and "1911" in found["answer"], found
        assert {c["source"] for c in found["citations"]} == {str(note.resolve())}
        note_chunks = {c["chunk_id"] for c in found["contexts"] if c["source"] == str(note.resolve())}
        assert note_chunks
        assert note_chunks <= {h.chunk.id for h in bot.collection.keyword.search(NOTE_QUESTION, 3)}
        assert note_chunks <= {h.chunk.id for h in bot.collection.dense.search(NOTE_QUESTION, 3)}
        with live.client() as client:
            listed = client.get("/api/sources").json()
        assert str(note.resolve()) in {s["source"] for s in listed}

        removed = cli(data_dir, "remove", note.name)
        assert removed.returncode == 0, removed.stderr
        gone = ask_note()
        assert str(note.resolve()) not in {c["source"] for c in gone["contexts"]}
    finally:
        stop.set()
        if asker.is_alive():
            asker.join(timeout=60)
        live.stop()
    assert answered > 0 and not failures, failures[:5]
    assert consistency.check(bot.collection).ok


def test_questions_are_answered_while_an_upload_is_being_ingested(embedder, tmp_path):
    """An upload to the server does not hold up questions: they are answered while it embeds and writes."""
    import threading

    from tests.serving_helpers import QUESTION

    _, live = _serve_article(embedder, tmp_path / "data")
    docs = _write_docs(tmp_path / "upload", 60)
    files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(docs.iterdir())]
    upload: dict = {}

    def send_upload() -> None:
        with live.client() as client:
            upload["response"] = client.post("/api/sources", files=files, timeout=600)
        upload["ended"] = time.monotonic()

    try:
        sender = threading.Thread(target=send_upload)
        began = time.monotonic()
        sender.start()
        answered_during: list[float] = []
        with live.client() as client:
            while sender.is_alive():
                response = client.post("/api/ask", json={"question": QUESTION})
                assert response.status_code == 200 and not response.json()["abstained"], response.text
                if sender.is_alive():
                    answered_during.append(time.monotonic())
        sender.join()
    finally:
        live.stop()
    assert upload["response"].status_code == 200, upload["response"].text
    assert len(upload["response"].json()["added"]) == 60
    assert upload["ended"] - began > 2  # long enough that a blocked question would show
    took = upload["ended"] - began
    assert len(answered_during) >= 3, f"only {len(answered_during)} answers during a {took:.1f} s upload"
