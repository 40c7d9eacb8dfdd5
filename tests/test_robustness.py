"""Crash safety and consistency: kill -9 during ingest, then the same ingest converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from store import consistency
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

WORDS = ("treaty summit alliance pipeline tariff election sanction reactor frontier corridor harbor census "
         "drought vaccine satellite railway lithium orchard glacier festival archive").split()

# The child ingests in small batches and stops dead at one chosen point, so the kill lands exactly
# there: "file:N" before the N-th file is read, "<step>:N" before that step of the N-th batch write.
INGEST_SCRIPT = """
import sys, time
import assistant.ingestion as ingestion
from assistant.service import Assistant
from assistant.settings import Settings

data_dir, docs, point = sys.argv[1:4]
step, _, nth = point.partition(":")
ingestion.BATCH_CHUNKS = 16
bot = Assistant(Settings(data_dir=data_dir))
calls = {}

def stop_at(name):
    calls[name] = calls.get(name, 0) + 1
    if name == step and calls[name] == int(nth):
        print("STOPPED", flush=True)
        time.sleep(600)

def before(owner, method, name):
    original = getattr(owner, method)
    def wrapped(*args, **kwargs):
        stop_at(name)
        return original(*args, **kwargs)
    setattr(owner, method, wrapped)

before(bot.collection.dense.sentences, "upsert", "sentences")
before(bot.collection.dense.chunks, "upsert", "chunks")
before(bot.collection.keyword, "add", "keyword")
before(bot.collection.manifest, "save", "manifest")
bot.ingest([docs], progress=lambda done, total, name: stop_at("file"))
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


def _run_and_kill(data_dir: Path, docs: Path, point: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
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
    reference = make_assistant(data_dir=tmp_path / "reference")
    reference.ingest([docs])
    expected = _state(reference)
    assert expected[0] == expected[1] == expected[2] and len(expected[0]) > 3 * 16  # several batches

    for point in KILL_POINTS:
        data_dir = tmp_path / point.replace(":", "-")
        _run_and_kill(data_dir, docs, point)
        bot = make_assistant(data_dir=data_dir)  # the store opens after kill -9
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
