"""The stored documents as a server manages them: list, add uploads, open the original, remove.

Writes (uploads and removals) run one at a time in this process (``write_lock``) and across processes
(the store's file lock); asks never wait for them. Uploads are staged, ingested under their final name
and moved into place only once the manifest records them (``assistant/uploads.py``), so a file that fails
to ingest, or a process killed halfway, leaves the stored documents as they were.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from assistant.errors import SourceNotFound
from assistant.ingestion import IngestReport, ProgressCallback
from assistant.records import source_id
from assistant.service import Assistant
from assistant.uploads import UploadArea, stored_names
from ingest.loaders import IngestError
from store.manifest import SourceEntry

log = logging.getLogger(__name__)
audit_log = logging.getLogger("assistant.audit")  # one JSON line per write: who, what, when


@dataclass(frozen=True)
class UploadOutcome:
    """What an upload did: the ingest report, and the uploaded documents as now stored."""

    report: IngestReport
    stored: list[SourceEntry]


class Library:
    def __init__(self, bot: Assistant, max_upload_bytes: int, lock: threading.Lock | None = None) -> None:
        self.bot = bot
        self.max_upload_bytes = max_upload_bytes
        self.area = UploadArea(bot.settings.data_dir / "uploads")
        self.write_lock = lock or threading.Lock()
        self.area.recover(bot.collection.manifest.load())  # uploads a killed process left halfway

    def sources(self) -> list[SourceEntry]:
        return self.bot.sources()

    def uploaded(self, entry: SourceEntry) -> bool:
        """Stored under ``data_dir/uploads`` by an upload (removing it deletes the file too)."""
        return self.area.holds(Path(entry.source))

    def find(self, key: str) -> SourceEntry | None:
        """A source by its id, else by a path or a file name matching exactly one source."""
        entries = self.bot.sources()
        entry = _by_id(entries, key)
        if entry is None:
            resolved = self.bot.collection.resolve_source(key)
            entry = next((e for e in entries if e.source == resolved), None)
        return entry

    def original(self, key: str) -> Path:
        """The stored file of a source (by id), for the route that opens citations."""
        entry = _by_id(self.bot.sources(), key)
        path = Path(entry.source) if entry else None
        if path is None or not path.is_file():
            raise SourceNotFound(f"no stored file for source {key!r}")
        return path

    def add_uploads(self, files: Sequence[tuple[str, BinaryIO]], progress: ProgressCallback | None = None,
                    actor: str = "local") -> UploadOutcome:
        """Stage, ingest, then move into place the uploads whose ingest committed.

        Raises UploadRefused before anything is written (bad name, too large), and IngestError when no
        file of the upload could be ingested.
        """
        try:
            outcome = self._add_uploads(files, progress)
        except Exception as exc:
            _audit(actor, "upload", files=[name for name, _ in files], error=str(exc))
            raise
        report = outcome.report
        _audit(actor, "upload", files=[name for name, _ in files], added=report.added, updated=report.updated,
               unchanged=report.unchanged, failed=[message for _, message in report.failed])
        return outcome

    def _add_uploads(self, files: Sequence[tuple[str, BinaryIO]], progress: ProgressCallback | None) -> UploadOutcome:
        names = stored_names([name for name, _ in files])
        with self.write_lock, self.area.staging([r for _, r in files], names, self.max_upload_bytes) as staged:
            try:
                report = self.bot.ingest_as(staged.pairs(self.area.root), progress=progress)
            finally:  # also after a failure halfway: what committed is promoted, the rest dropped
                self.area.settle(staged, self.bot.collection.manifest.load())
        if report.failed and len(report.failed) == len(names):
            raise IngestError("; ".join(message for _, message in report.failed))
        targets = {str(self.area.root / name) for name in names} - {f for f, _ in report.failed}
        log.info("upload: %s", report.summary())
        return UploadOutcome(report, [e for e in self.bot.sources() if e.source in targets])

    def remove(self, key: str, actor: str = "local") -> SourceEntry | None:
        """Remove a source by its id or by a name matching one source; an uploaded file goes too."""
        with self.write_lock:
            entry = self.find(key)
            _audit(actor, "remove", asked=key, source=entry.source if entry else None)
            if entry is None:
                return None
            uploaded = self.uploaded(entry)
            self.bot.remove(entry.source)
            if uploaded:  # after its chunks: a crash in between leaves an orphan file, which doctor finds
                Path(entry.source).unlink(missing_ok=True)
        log.info("removed %s", entry.source)
        return entry


def _audit(actor: str, action: str, **what: object) -> None:
    record = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "actor": actor, "action": action, **what}
    audit_log.info(json.dumps(record, ensure_ascii=False))


def _by_id(entries: Sequence[SourceEntry], key: str) -> SourceEntry | None:
    return next((e for e in entries if source_id(e.source) == key), None)
