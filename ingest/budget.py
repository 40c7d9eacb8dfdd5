"""Loaders of parsed formats run in a child process under a time and memory budget.

A hostile PDF, DOCX or HTML file can be built to make its parser spin or allocate without end. The
parse runs in a process forked from a small ``forkserver`` (not from the server's threads), with an
address-space limit and a CPU limit, and the parent kills it when its wall-clock budget is spent; the
user gets an :class:`IngestError` that says which limit the file hit. Markdown and plain text are only
decoded (linear in the size limit), so they load in-process.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import resource
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ingest.loaders import IngestError, load
from ingest.records import Document

log = logging.getLogger(__name__)

IN_PROCESS = frozenset({".md", ".markdown", ".txt"})
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["ingest.loaders", "ingest.pdf_loader", "ingest.html_loader", "pypdfium2", "docx",
                                 "markdownify", "lxml.html"])


class LoadBudget(BaseModel):
    """What one file may cost to parse: ``seconds + seconds_per_mb * size`` of wall time, ``memory_mb``.

    ``Settings.loading``; env ``ASSISTANT_LOAD_SECONDS``, ``ASSISTANT_LOAD_SECONDS_PER_MB``,
    ``ASSISTANT_LOAD_MEMORY_MB``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float = Field(10.0, gt=0, description="Time budget to parse one PDF, DOCX or HTML file ...")
    seconds_per_mb: float = Field(5.0, ge=0, description="... plus this many seconds per MB of the file.")
    memory_mb: int = Field(2048, ge=256, description="Memory budget of the process that parses one file.")
    isolate: bool = Field(True, exclude=True, description="False: parse in-process without limits (benches only).")

    def seconds_for(self, size: int) -> float:
        return self.seconds + self.seconds_per_mb * size / 2**20


def load_within(path: Path, max_bytes: int, source: str | None = None,
                budget: LoadBudget | None = None) -> Document:
    """``load(path)`` under ``budget``; raises IngestError for a refused file or an exhausted budget."""
    budget = budget or LoadBudget()
    if path.suffix.lower() in IN_PROCESS or not budget.isolate:
        return load(path, max_bytes=max_bytes, source=source)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read ({exc.strerror})") from exc
    if size > max_bytes:  # the size check needs no child
        return load(path, max_bytes=max_bytes, source=source)
    seconds = budget.seconds_for(size)
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_parse, args=(sender, str(path), max_bytes, source, budget.memory_mb, seconds),
                             name=f"load-{path.name}", daemon=True)
    child.start()
    sender.close()
    try:
        return _outcome(receiver, child, path.name, seconds, budget.memory_mb)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _outcome(receiver: Connection, child, name: str, seconds: float, memory_mb: int) -> Document:
    if not receiver.poll(seconds):
        child.kill()
        raise IngestError(f"{name}: reading it took longer than its budget of {seconds:.0f} s; refused "
                          f"(a file this slow to parse is damaged or built to stall readers)")
    try:
        kind, value = receiver.recv()
    except EOFError:  # the child died without a word: killed by a limit, or the parser crashed
        child.join(5)
        raise IngestError(f"{name}: the reader stopped (exit code {child.exitcode}) before finishing; it hit the "
                          f"budget of {seconds:.0f} s CPU or {memory_mb:,} MB memory, or the file is damaged") from None
    if kind == "document":
        return value
    if kind == "memory":
        raise IngestError(f"{name}: reading it needs more than {memory_mb:,} MB of memory; refused")
    if kind == "refused":
        raise IngestError(value)
    log.error("loader bug on %s: %s", name, value)
    raise IngestError(f"{name}: the reader failed on this file ({value})")


def _parse(sender: Connection, path: str, max_bytes: int, source: str | None, memory_mb: int,
           seconds: float) -> None:
    """The child: set the limits, load, send the Document (or what went wrong) and exit."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        message: tuple[str, object] = ("document", load(Path(path), max_bytes=max_bytes, source=source))
    except IngestError as exc:
        message = ("refused", str(exc))
    except MemoryError:
        message = ("memory", "")
    except Exception as exc:  # a parser bug: reported, never a crash of the parent
        message = ("bug", f"{type(exc).__name__}: {exc}")
    try:
        sender.send(message)
    except MemoryError:
        sender.send(("memory", ""))
    finally:
        sender.close()
