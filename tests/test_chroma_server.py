"""The store contract again, against a real `chroma run` server on 127.0.0.1 (ASSISTANT_CHROMA_URL)."""

from __future__ import annotations

import uuid

import pytest

from store.chroma_index import ChromaIndex, open_chroma_client
from store.chroma_server import chroma_server, free_port
from tests.conftest import CHROMA_URL, CORPUS, NOTE_QUESTION, NOTE_TEXT
from tests.test_store_contract import ChunkIndexContract

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    if CHROMA_URL:  # scripts/test.sh started one for the whole run
        yield CHROMA_URL
        return
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


class TestChromaServerIndexContract(ChunkIndexContract):
    """Each test gets its own collections on the shared server (a unique name prefix)."""

    @pytest.fixture
    def prefix(self) -> str:
        return f"t{uuid.uuid4().hex[:10]}-"

    @pytest.fixture
    def index(self, chroma_url, embedder, prefix) -> ChromaIndex:
        return ChromaIndex(open_chroma_client(url=chroma_url), embedder, prefix=prefix)

    @pytest.fixture
    def reopen(self, chroma_url, embedder, prefix):
        return lambda: ChromaIndex(open_chroma_client(url=chroma_url), embedder, prefix=prefix)




def test_app_instances_on_one_chroma_server_share_everything(chroma_url, make_assistant, tmp_path, tmp_files):
    """Two app instances with their own data dirs: vectors, chunk texts (their BM25) and the manifest
    all come from the server, and each sees the other's writes without a restart."""
    from store import consistency

    prefix = f"t{uuid.uuid4().hex[:10]}-"
    writer = make_assistant(chroma_url=chroma_url, chroma_prefix=prefix, data_dir=tmp_path / "app-1")
    writer.ingest([CORPUS])
    reader = make_assistant(chroma_url=chroma_url, chroma_prefix=prefix, data_dir=tmp_path / "app-2")
    assert reader.collection.count() == writer.collection.count() > 0
    assert reader.collection.keyword.all_ids() and set(reader.collection.keyword.all_ids()) == set(
        writer.collection.keyword.all_ids())
    assert [s.source for s in reader.sources()] == [str(CORPUS.resolve())]
    assert reader.ingest([CORPUS]).unchanged  # the shared manifest knows the file
    assert reader.ask(NOTE_QUESTION).abstained

    note = tmp_files / "zorblat.md"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    writer.ingest([note])
    found = reader.ask(NOTE_QUESTION)
    assert not found.abstained and "1911" in found.answer
    note_ids = {c.chunk_id for c in found.contexts if c.source == str(note.resolve())}
    assert note_ids and note_ids <= {h.chunk.id for h in reader.collection.keyword.search(NOTE_QUESTION, 3)}
    assert str(note.resolve()) in {s.source for s in reader.sources()}

    assert writer.remove(note.name)
    gone = reader.ask(NOTE_QUESTION)
    assert str(note.resolve()) not in {c.source for c in gone.contexts}
    assert consistency.check(reader.collection).ok and consistency.check(writer.collection).ok
    assert not (tmp_path / "app-1" / "manifest.json").exists()  # nothing of the store in the data dir
    assert not (tmp_path / "app-1" / "keyword" / "chunks.jsonl").exists()


def test_collection_prefixes_keep_collections_apart_on_one_server(chroma_url, make_assistant, tmp_path):
    first = make_assistant(chroma_url=chroma_url, chroma_prefix=f"a{uuid.uuid4().hex[:8]}",
                           data_dir=tmp_path / "a")
    first.ingest([CORPUS])
    second = make_assistant(chroma_url=chroma_url, chroma_prefix=f"b{uuid.uuid4().hex[:8]}",
                            data_dir=tmp_path / "b")
    assert second.collection.count() == 0 and not second.sources() and first.collection.count() > 0


def test_unreachable_chroma_server_is_a_clear_error(make_assistant, tmp_path):
    from store.chroma_index import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="cannot open the Chroma store"):
        make_assistant(chroma_url=f"http://127.0.0.1:{free_port()}", data_dir=tmp_path / "app")


def test_writers_with_their_own_data_dirs_take_turns_on_the_server(chroma_url, make_assistant, tmp_path, tmp_files):
    """Two machines (data dirs) writing to one server: the second waits for the first's write lease instead of
    saving the manifest over it. Without the lease, B saves between A's load and A's save, and A's save drops
    B's source (bench/parallel_ingest.py lost 35 of 120 sources that way)."""
    import threading

    from store.manifest import SourceEntry

    prefix = f"t{uuid.uuid4().hex[:10]}-"
    a = make_assistant(chroma_url=chroma_url, chroma_prefix=prefix, data_dir=tmp_path / "machine-a")
    b = make_assistant(chroma_url=chroma_url, chroma_prefix=prefix, data_dir=tmp_path / "machine-b")
    note = tmp_files / "zorblat.md"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    b_ingest = threading.Thread(target=b.ingest, args=([note],))
    with a.collection.writing():
        entries = a.collection.manifest.load()  # a slow write: loaded, not saved yet
        b_ingest.start()
        b_ingest.join(timeout=4)
        assert b_ingest.is_alive(), "B wrote while A held the write lock"
        entries["a-note"] = SourceEntry("a-note", "A's note", "hash", (), "2026-12-06T00:00:00+00:00")
        a.collection.manifest.save(entries)
    b_ingest.join(timeout=60)
    assert {s.source for s in a.sources()} == {"a-note", str(note.resolve())}


def test_the_server_write_lease_is_exclusive_expires_and_is_released(chroma_url):
    """One holder at a time, a crashed holder's lease is broken after its ttl, and releasing removes only one's
    own lease."""
    from store.server_lock import LockTimeout, ServerWriteLock

    client = open_chroma_client(url=chroma_url)
    name = f"t{uuid.uuid4().hex[:10]}-writer"
    first, second = ServerWriteLock(client, name, ttl=60), ServerWriteLock(client, name, ttl=60)
    first.acquire(timeout=1)
    with pytest.raises(LockTimeout, match="held by"):
        second.acquire(timeout=0.5)
    first.release()
    second.acquire(timeout=1)
    first.release()  # not first's lease any more: nothing happens to second's
    with pytest.raises(LockTimeout):
        first.acquire(timeout=0.5)
    second.release()

    crashed = ServerWriteLock(client, name, ttl=0.5)
    crashed.acquire(timeout=1)
    crashed._renewer[0].set()  # the process died: nobody renews the lease or releases it
    first.acquire(timeout=5)  # waits out the ttl, then breaks the lease
    first.release()


def test_a_lease_whose_process_died_on_this_machine_is_broken_at_once(chroma_url):
    """An ingest killed and run again must not wait out the lease's ttl, as it does not wait for a file lock."""
    import subprocess
    import sys
    import time

    from store.server_lock import ServerWriteLock

    name = f"t{uuid.uuid4().hex[:10]}-writer"
    holder = ("import os, sys; from store.chroma_index import open_chroma_client; "
              "from store.server_lock import ServerWriteLock; "
              f"ServerWriteLock(open_chroma_client(url={chroma_url!r}), {name!r}, ttl=600).acquire(timeout=5); "
              "os._exit(0)")  # dies holding it: no release
    subprocess.run([sys.executable, "-c", holder], check=True, timeout=120)
    lease = ServerWriteLock(open_chroma_client(url=chroma_url), name, ttl=600)
    assert lease._holder() is not None  # still held by the dead process
    started = time.monotonic()
    lease.acquire(timeout=5)
    assert time.monotonic() - started < 5
    lease.release()
