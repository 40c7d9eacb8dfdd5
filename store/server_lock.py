"""A write lock held on the ``chroma run`` server, so writers on several machines take turns.

The file lock in the data dir serialises the writers of one machine only. Two ingest processes with data dirs
of their own (two machines) against one server would each load the manifest, add their sources and save it:
the later save drops the earlier one's sources (bench/parallel_ingest.py lost 35 of 120 sources that way).
This lock is one record of a small Chroma collection, taken with the two operations Chroma makes conditional:

- ``add`` of an id that exists is ignored, so of two writers adding the record at once exactly one succeeds;
  each reads the record back and holds the lock only if it names its own random token;
- ``delete`` with a ``where`` on the owner removes the record only if that owner still holds it, so releasing
  and breaking an expired lease never remove another writer's newer lease.

A lease lasts ``ttl`` seconds and is renewed by a background thread while held, so a writer that crashed blocks
the others for at most ``ttl``; a live one never loses it. A lease whose holder ran on this machine (same boot,
same pid namespace) and is no longer running is broken at once, as the OS releases a dead process's file lock:
an ingest killed and run again does not wait out the ``ttl``. Expiry times are the wall clock of the machine
that writes them: the machines' clocks must agree to well within ``ttl`` (NTP does).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORD = "lock"
TTL_S = 60.0  # how long a crashed writer's lease blocks the others
POLL_S = 0.2


class LockTimeout(TimeoutError):
    """Another writer held the lock for the whole wait; the message names it."""


class ServerWriteLock:
    """``acquire(timeout)`` / ``release()`` on the record ``lock`` of the Chroma collection ``name``."""

    def __init__(self, client: Any, name: str, ttl: float = TTL_S) -> None:
        self.records = client.get_or_create_collection(name, embedding_function=None)
        self.ttl = ttl
        self._token: str | None = None
        self._renewer: tuple[threading.Event, threading.Thread] | None = None

    def acquire(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the lock; raises LockTimeout naming the holder."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        deadline = time.monotonic() + timeout
        while True:
            holder = self._holder()
            if holder is None:  # free: try to take it; of writers adding at once, one record survives
                self.records.add(ids=[RECORD], embeddings=[[1.0]], metadatas=[self._lease(token)])
                if (self._holder() or {}).get("owner") == token:
                    self._token = token
                    self._start_renewing(token)
                    return
                continue
            if float(holder["expires"]) < time.time() or _died_here(holder):
                log.warning("breaking the write lease of %s: expired, or its process is gone", holder["owner"])
                self.records.delete(ids=[RECORD], where={"owner": holder["owner"]})
                continue
            if time.monotonic() >= deadline:
                raise LockTimeout(f"held by {holder['owner']}")
            time.sleep(POLL_S)

    def release(self) -> None:
        token, self._token = self._token, None
        if self._renewer:  # stopped before the delete: a renewal after it would revive the lease
            stop, thread = self._renewer
            stop.set()
            thread.join()
            self._renewer = None
        if token:
            try:
                self.records.delete(ids=[RECORD], where={"owner": token})
            except Exception:  # the server is away: the lease lapses after ttl instead
                log.warning("releasing the write lease failed; it expires within %.0f s", self.ttl, exc_info=True)

    def _lease(self, token: str) -> dict[str, Any]:
        return {"owner": token, "expires": time.time() + self.ttl, "machine": _machine(), "pid": os.getpid()}

    def _holder(self) -> dict[str, Any] | None:
        found = self.records.get(ids=[RECORD], include=["metadatas"])
        return found["metadatas"][0] if found["ids"] else None

    def _start_renewing(self, token: str) -> None:
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.ttl / 3):
                try:
                    holder = self._holder()
                    if not holder or holder["owner"] != token:  # broken while we slept past the ttl
                        log.error("the write lease was lost; another writer may have taken it")
                        return
                    self.records.update(ids=[RECORD], metadatas=[self._lease(token)])
                except Exception:  # the server is away: the lease may lapse, the write itself will fail
                    log.warning("renewing the write lease failed", exc_info=True)

        thread = threading.Thread(target=renew, name="write-lease", daemon=True)
        self._renewer = (stop, thread)
        thread.start()


@cache  # fixed for the life of the process: read once, not per lease and renewal
def _machine() -> str:
    """Where a pid means this process table: the boot and the pid namespace (Linux); "" where unknown."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _died_here(holder: dict[str, Any]) -> bool:
    """The holder ran in this machine's process table and is not running now."""
    here = _machine()
    if not here or holder.get("machine") != here or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # running, as another user
        return False
    return False
