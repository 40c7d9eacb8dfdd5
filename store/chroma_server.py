"""A local `chroma run` server, started and awaited in one place (tests, benches and scripts/test.sh).

``python -m store.chroma_server FOLDER -- COMMAND ...`` runs COMMAND with ``ASSISTANT_CHROMA_URL`` pointing at
a fresh server on 127.0.0.1 whose data lives in FOLDER, stops the server afterwards and exits with COMMAND's
status.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


class ChromaServerError(RuntimeError):
    """`chroma run` is missing or did not answer its heartbeat in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chroma_command() -> Path:
    """The `chroma` executable beside this Python (a virtual environment's bin), else on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    found = beside if beside.exists() else shutil.which("chroma")
    if not found:
        raise ChromaServerError("the `chroma` command is missing: chromadb installs it")
    return Path(found)


@contextmanager
def chroma_server(folder: Path, port: int | None = None, timeout: float = 60) -> Iterator[str]:
    """Run `chroma run` on 127.0.0.1 with its data in ``folder``; yields its URL once it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    with log_path.open("w") as server_log:
        server = subprocess.Popen(
            [str(chroma_command()), "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=server_log, stderr=subprocess.STDOUT,
        )
        try:
            _await_heartbeat(url, server, timeout, log_path)
            log.info("chroma run serving %s on %s", folder, url)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _await_heartbeat(url: str, server: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise ChromaServerError(f"chroma run did not start: {log_path.read_text(errors='replace')[-2000:]}")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m store.chroma_server FOLDER -- COMMAND [ARGS...]\n")
        return 2
    try:
        with chroma_server(Path(argv[0])) as url:
            sys.stderr.write(f"chroma run on {url}\n")
            return subprocess.call(argv[2:], env={**os.environ, "ASSISTANT_CHROMA_URL": url})
    except ChromaServerError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
