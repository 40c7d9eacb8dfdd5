"""Uploads are atomic and their names injective; `doctor` sees what a crash or an edit left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import upkeep
from assistant.interfaces.serving import ServedAssistant
from assistant.uploads import UploadArea, file_hash
from store import consistency
from tests.conftest import CHROMA_URL, ROOT
from tests.test_cli import cli

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.serving_helpers"]  # the `served` fixture

OLD = "# Evolve\n\nThe Evolve harbour crane lifts twelve tonnes.\n"
NEW = "# Evolve\n\n" + "".join(f"Revision paragraph {i} says the Evolve crane was rebuilt in {1900 + i}.\n\n"
                               for i in range(60))

# The child serves uploads through ServedAssistant and stops dead at one point of the second upload:
# "chunks:N" before the N-th chunk-vector write (nothing of the upload committed), "settle:1" after the
# ingest committed and before the staged file is moved into place.
UPLOAD_SCRIPT = """
import io, sys
import assistant.ingestion as ingestion
import assistant.uploads as uploads
from assistant.service import Assistant
from assistant.interfaces.serving import ServedAssistant
from assistant.settings import Settings
from tests.stop_points import StopPoint

data_dir, name, first, second, point = sys.argv[1:6]
stop = StopPoint(point)
ingestion.BATCH_CHUNKS = 8
served = ServedAssistant(Assistant(Settings(data_dir=data_dir)))
served.ingest_uploads([(name, io.BytesIO(open(first, "rb").read()))])
stop.before(served.bot.collection.dense.chunks, "upsert", "chunks")
stop.before(uploads.UploadArea, "settle", "settle")
print("FIRST DONE", flush=True)
served.ingest_uploads([(name, io.BytesIO(open(second, "rb").read()))])
print("DONE", flush=True)
"""


def _kill_during_second_upload(data_dir: Path, tmp: Path, name: str, first: bytes | None, second: bytes,
                               point: str) -> None:
    (tmp / "first").write_bytes(first or b"")
    (tmp / "second").write_bytes(second)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir)}
    script = UPLOAD_SCRIPT if first else UPLOAD_SCRIPT.replace(
        'served.ingest_uploads([(name, io.BytesIO(open(first, "rb").read()))])\n', "", 1)
    child = subprocess.Popen([sys.executable, "-c", script, str(data_dir), name, str(tmp / "first"),
                              str(tmp / "second"), point], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    for line in child.stdout:
        if line.strip() == "STOPPED" or time.monotonic() > deadline:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(30)


def _assert_store_tells_the_truth(bot, area: UploadArea) -> None:
    files = upkeep.check_files(bot, area)
    assert files.ok, files.lines()
    for entry in bot.collection.manifest.load().values():
        text = Path(entry.source).read_bytes().decode("utf-8")
        assert file_hash(Path(entry.source)) == entry.content_hash
        for chunk in bot.collection.dense.get(list(entry.chunk_ids)):
            assert text[chunk.start : chunk.end] == chunk.text


@pytest.mark.parametrize("point", ["chunks:1", "settle:1"])
def test_kill_9_during_a_re_upload_leaves_a_store_that_tells_the_truth(make_assistant, data_dir, tmp_path, point):
    _kill_during_second_upload(data_dir, tmp_path, "evolve.md", OLD.encode(), NEW.encode(), point)
    bot = make_assistant()
    area = UploadArea(data_dir / "uploads")
    before = upkeep.check_files(bot, area)
    assert before.interrupted, "the killed upload is reported"
    assert not before.ok
    served = ServedAssistant(bot)  # a server starting on this data dir settles the interrupted upload
    assert upkeep.check_files(bot, area).interrupted == []
    consistency.repair(bot.collection)  # chunks the killed ingest had written and nobody names
    assert consistency.check(bot.collection).ok
    _assert_store_tells_the_truth(bot, area)
    [source] = [s.source for s in served.sources()]
    answer = bot.ask("What does the Evolve harbour crane lift?")
    if point == "chunks:1":  # nothing of the new version committed: the old one stands, file and chunks
        assert Path(source).read_text(encoding="utf-8") == OLD and "twelve tonnes" in answer.answer
    else:  # the new version committed: it is the file too
        assert Path(source).read_text(encoding="utf-8") == NEW
    for citation in answer.citations:
        assert Path(citation.source).read_text(encoding="utf-8")[citation.start : citation.end] == citation.quote


def test_kill_9_during_a_new_upload_leaves_no_orphan_file(make_assistant, data_dir, tmp_path):
    _kill_during_second_upload(data_dir, tmp_path, "fresh.md", None, NEW.encode(), "chunks:1")
    bot = make_assistant()
    area = UploadArea(data_dir / "uploads")
    report = upkeep.repair_files(bot, area)
    assert report.ok, report.lines()
    assert any("dropped the never-ingested upload of fresh.md" in line for line in report.repaired)
    assert [p for p in (data_dir / "uploads").iterdir() if p.is_file()] == []
    assert consistency.repair(bot.collection).ok and bot.sources() == []


def test_doctor_finds_an_old_version_kept_aside_puts_it_back_and_removes_orphans(make_assistant, data_dir):
    """What the previous upload code could leave after a kill: the new file at the path, the old one aside."""
    bot = make_assistant()
    served = ServedAssistant(bot)
    import io

    served.ingest_uploads([("evolve.md", io.BytesIO(OLD.encode()))])
    uploads = data_dir / "uploads"
    (uploads / ".evolve.md.prev").write_bytes(OLD.encode())
    (uploads / "evolve.md").write_bytes(NEW.encode())
    (uploads / ".0123abcd.part~other.md").write_bytes(b"# Other\n\nhalf an upload\n")
    (uploads / "stray.md").write_bytes(b"# Stray\n\nnot in the manifest\n")
    area = UploadArea(uploads)
    found = upkeep.check_files(bot, area)
    assert found.changed == [str(uploads.resolve() / "evolve.md")] and len(found.orphans) == 3
    result = cli(data_dir, "doctor")
    assert result.returncode == 1 and "1 changed since ingest" in result.stdout and "3 orphaned" in result.stdout
    repaired = upkeep.repair_files(bot, area)
    assert repaired.ok, repaired.lines()
    assert (uploads / "evolve.md").read_text(encoding="utf-8") == OLD
    assert sorted(p.name for p in uploads.iterdir() if p.is_file()) == ["evolve.md"]
    _assert_store_tells_the_truth(bot, area)


def test_a_source_whose_offsets_no_longer_hold_is_found_and_ingested_again(make_assistant, data_dir, tmp_files):
    note = tmp_files / "offsets.md"
    note.write_text("# Offsets\n\nThe Pellucid bridge opened in 1931.\n", encoding="utf-8")
    bot = make_assistant()
    bot.ingest([note])
    [entry] = bot.collection.manifest.load().values()
    chunk = bot.collection.dense.get(list(entry.chunk_ids))[0]
    meta = bot.collection.dense.chunks.get(ids=[chunk.id], include=["metadatas"])["metadatas"][0]
    # as if an older loader had produced other offsets
    bot.collection.dense.chunks.update(ids=[chunk.id], metadatas=[{**meta, "start": chunk.start + 1,
                                                                   "end": chunk.end + 1}])
    area = UploadArea(data_dir / "uploads")
    assert upkeep.check_files(bot, area).broken_offsets == [str(note.resolve())]
    assert upkeep.repair_files(bot, area).ok
    _assert_store_tells_the_truth(bot, area)


# ---------------------------------------------------------------- names


def test_distinct_upload_names_never_overwrite_each_other(served):
    names = ["отчёт.md", "доклад.md", "报告.md", ".md", "..md", "a b.md", "a_b.md"]
    with served.client() as client:
        for i, name in enumerate(names):
            text = f"# Note {i}\n\nThe Varnholt depot number {i} keeps exactly {100 + i} barrels.\n"
            response = client.post("/api/sources", files={"files": (name, text.encode(), "text/markdown")})
            assert response.status_code == 200, (name, response.text)
        sources = [s for s in client.get("/api/sources").json() if s["uploaded"]]
    assert len(sources) == len(names) and len({s["source"] for s in sources}) == len(names)
    assert {"отчёт.md", "доклад.md", "报告.md", "a_b.md"} <= {s["name"] for s in sources}
    stored = sorted((served.data_dir / "uploads").glob("*.md"))
    assert len(stored) == len(names)
    assert {p.read_text(encoding="utf-8").split("\n")[0] for p in stored} == {f"# Note {i}" for i in range(len(names))}


@pytest.mark.skipif(CHROMA_URL is not None, reason="file names are a property of the data dir, not of Chroma")
def test_upload_area_names_stay_inside_the_uploads_folder(tmp_path):
    area = UploadArea(tmp_path / "uploads")
    assert area.holds(tmp_path / "uploads" / "x.md") and not area.holds(tmp_path / "x.md")
