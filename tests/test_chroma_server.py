"""The store contract again, against a real `chroma run` server on 127.0.0.1 (ASSISTANT_CHROMA_URL)."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from store.chroma_index import ChromaIndex, open_chroma_client
from tests.conftest import CORPUS, ROOT
from tests.test_store_contract import ChunkIndexContract

pytestmark = pytest.mark.slow
CHROMA = ROOT / ".venv" / "bin" / "chroma"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} is missing: chromadb installs it")
    port = _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"chroma run did not start: {Path(log.name).read_text()[-2000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


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


def test_two_assistants_share_one_chroma_server(chroma_url, make_assistant, tmp_path):
    writer = make_assistant(chroma_url=chroma_url, data_dir=tmp_path / "app-1")
    writer.ingest([CORPUS])
    reader = make_assistant(chroma_url=chroma_url, data_dir=tmp_path / "app-2")
    assert reader.collection.dense.count() == writer.collection.dense.count() > 0
    hits = reader.collection.dense.search("F-16 fighter jets", 3)
    assert hits and "F-16" in hits[0].chunk.text


def test_unreachable_chroma_server_is_a_clear_error(make_assistant, tmp_path):
    from store.chroma_index import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="cannot open the Chroma store"):
        make_assistant(chroma_url=f"http://127.0.0.1:{_free_port()}", data_dir=tmp_path / "app")
