"""Where uploads live (``data_dir/uploads``), how they are named, and how one is stored without a lie.

An upload is written to a staging folder of its own (``uploads/.staging/<id>/<name>``, held by a file
lock while its request runs) and ingested from there, recorded under its final path. Only then is it
moved into place: a stored file is replaced only after the manifest says its new content was
ingested. ``settle`` makes that decision from the manifest alone, so the same code finishes a normal
upload and one whose process was killed: a staged file whose hash the manifest records is promoted,
any other is dropped, and the old file with its chunks stays as it was.

Stored names are injective: a name that is already safe (Unicode letters and digits, ``. _ -``) is
kept; any other is cleaned and gets a short hash of the name it came with, so ``отчёт.md`` and
``报告.md`` stay apart and ``.md`` and ``..md`` never become one file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.records import content_hash
from store.manifest import SourceEntry

log = logging.getLogger(__name__)

STAGING = ".staging"
_UNSAFE = re.compile(r"[^\w.-]+")
MAX_STEM_BYTES = 150  # with the hash and suffix, well under the 255-byte file name limit


class UploadRefused(ValueError):
    """An upload we refuse before anything is written: ``kind`` says why (unsupported, duplicate, too_large)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def stored_name(raw: str) -> str:
    """The file name an upload is stored under: no folders, safe characters, a supported suffix, injective."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", raw or "")[-1])
    stem, dot, ext = base.rpartition(".")
    suffix = f".{ext}" if dot else ""
    if suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UploadRefused("unsupported", f"{base or '(no name)'}: unsupported file type '{suffix or '(none)'}'; "
                                           f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    clean = _UNSAFE.sub("_", stem).strip("._-")
    clean = clean.encode()[:MAX_STEM_BYTES].decode(errors="ignore")
    if clean and clean == stem and _UNSAFE.sub("", suffix) == suffix:
        return base
    tag = hashlib.sha256(base.encode()).hexdigest()[:10]  # another raw name, another tag
    return f"{clean or 'upload'}-{tag}{_UNSAFE.sub('', suffix)}"


def stored_names(raw: Sequence[str]) -> list[str]:
    """The stored names of one upload's files; refused (nothing written) if any is unusable or two collide."""
    if not raw:
        raise UploadRefused("empty", "no files in the upload")
    names = [stored_name(name) for name in raw]
    if len(set(names)) < len(names):
        raise UploadRefused("duplicate", f"two files of the upload have the same name: {names}")
    return names


@dataclass
class Staging:
    """One upload in progress: its files under a folder of their own, held by a file lock."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)  # stored name -> staged file

    def pairs(self, root: Path) -> list[tuple[Path, str]]:
        """(staged file, the source it is recorded as) for ingest."""
        return [(path, str(root / name)) for name, path in self.files.items()]


@dataclass
class Settled:
    promoted: list[str] = field(default_factory=list)  # stored names now in place
    dropped: list[str] = field(default_factory=list)  # staged files the manifest does not record


class UploadArea:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.staging_root = self.root / STAGING

    @contextmanager
    def staging(self, readers: Sequence[BinaryIO], names: Sequence[str], limit: int) -> Iterator[Staging]:
        """Write every upload to a fresh staging folder (all or nothing); the folder goes when the block ends."""
        folder = self.staging_root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        lock = FileLock(f"{folder}.lock", thread_local=False)
        lock.acquire()
        try:
            staging = Staging(folder)
            for reader, name in zip(readers, names, strict=True):
                staging.files[name] = _write_limited(reader, folder / name, limit)
            yield staging
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.release()
            Path(f"{folder}.lock").unlink(missing_ok=True)

    def settle(self, staging: Staging, entries: Mapping[str, SourceEntry]) -> Settled:
        """Promote the staged files whose content the manifest records; leave the rest to be dropped."""
        return self._settle_folder(staging.folder, entries)

    def _settle_folder(self, folder: Path, entries: Mapping[str, SourceEntry]) -> Settled:
        settled = Settled()
        for staged in sorted(p for p in folder.iterdir() if p.is_file()):
            target = self.root / staged.name
            entry = entries.get(str(target))
            if entry is not None and entry.content_hash == file_hash(staged):
                os.replace(staged, target)
                settled.promoted.append(staged.name)
            else:
                staged.unlink()
                settled.dropped.append(staged.name)
        return settled

    def _stopped(self, remove: bool) -> Iterator[Path]:
        """Each staging folder of a process that stopped mid-request (its lock is free), held while the caller
        looks at it; uploads in progress in other processes are skipped. ``remove``: the folder goes after."""
        if not self.staging_root.is_dir():
            return
        for folder in sorted(p for p in self.staging_root.iterdir() if p.is_dir()):
            lock = FileLock(f"{folder}.lock", thread_local=False)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield folder
                if remove:
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                lock.release()
                if remove:
                    Path(f"{folder}.lock").unlink(missing_ok=True)

    def recover(self, entries: Mapping[str, SourceEntry]) -> Settled:
        """Settle the uploads of processes that stopped mid-request; skip live ones."""
        total = Settled()
        for folder in self._stopped(remove=True):
            settled = self._settle_folder(folder, entries)
            total.promoted += settled.promoted
            total.dropped += settled.dropped
            log.warning("interrupted upload %s: promoted %s, dropped %s", folder.name, settled.promoted,
                        settled.dropped)
        return total

    def interrupted(self) -> list[Path]:
        """Staged uploads whose process stopped; ``recover`` settles them."""
        return [p for folder in self._stopped(remove=False) for p in sorted(folder.iterdir()) if p.is_file()]

    def orphans(self, entries: Mapping[str, SourceEntry]) -> list[Path]:
        """Files in the uploads folder that no stored source names (left by crashes or older versions)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if p.is_file() and str(p) not in entries and not p.name.startswith(f"{STAGING}"))

    def holds(self, source: str | Path) -> bool:
        return Path(source).parent == self.root


def _write_limited(reader: BinaryIO, path: Path, limit: int) -> Path:
    size = 0
    with path.open("wb") as out:
        while block := reader.read(1024 * 1024):
            size += len(block)
            if size > limit:
                raise UploadRefused("too_large", f"{path.name}: over the upload limit of {limit:,} bytes")
            out.write(block)
    return path


def file_hash(path: Path) -> str:
    return content_hash(path.read_bytes())
