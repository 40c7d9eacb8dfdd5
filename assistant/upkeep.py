"""`assistant doctor`, file side: do the stored source files still say what their chunks quote?

``store.consistency`` checks the indexes against the manifest. This checks the manifest against the
files: each source file must still hash to what was ingested, every chunk's text must still sit at
its offsets in the loader's text of that file (so every citation's ``source_text[start:end] ==
quote`` holds), no upload may be left halfway (a staged file of a stopped process), and no file in
the uploads folder may be one no source names. ``repair`` settles interrupted uploads, puts back a
kept-aside copy whose content the manifest records, re-ingests sources whose file or offsets
changed, and removes orphaned upload files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from assistant.service import Assistant
from assistant.uploads import UploadArea, file_hash
from ingest.budget import load_within
from ingest.loaders import IngestError

log = logging.getLogger(__name__)


@dataclass
class FilesReport:
    sources: int = 0
    missing: list[str] = field(default_factory=list)  # the file is gone
    changed: list[str] = field(default_factory=list)  # the file is not what was ingested
    broken_offsets: list[str] = field(default_factory=list)  # chunk texts no longer at their offsets
    interrupted: list[str] = field(default_factory=list)  # staged uploads of a process that stopped
    orphans: list[str] = field(default_factory=list)  # files in uploads/ that no source names
    repaired: list[str] = field(default_factory=list)  # what repair did, one line each

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.broken_offsets or self.interrupted or self.orphans)

    def lines(self) -> list[str]:
        lines = [f"source files: {self.sources} checked; {len(self.missing)} missing, {len(self.changed)} changed "
                 f"since ingest, {len(self.broken_offsets)} with chunk offsets that no longer hold",
                 f"uploads: {len(self.interrupted)} interrupted, {len(self.orphans)} orphaned files"]
        lines += [f"  missing: {s} (restore the file, or `assistant remove` it)" for s in self.missing]
        lines += [f"  changed: {s}" for s in self.changed]
        lines += [f"  offsets: {s}" for s in self.broken_offsets]
        lines += [f"  interrupted upload: {s}" for s in self.interrupted]
        lines += [f"  orphan: {s}" for s in self.orphans]
        lines += [f"  repaired: {s}" for s in self.repaired]
        return lines


def check_files(bot: Assistant, area: UploadArea) -> FilesReport:
    entries = bot.collection.manifest.load()
    report = FilesReport(sources=len(entries))
    for source, entry in sorted(entries.items()):
        path = Path(source)
        if not path.is_file():
            report.missing.append(source)
        elif file_hash(path) != entry.content_hash:
            report.changed.append(source)
        elif not _offsets_hold(bot, path, list(entry.chunk_ids)):
            report.broken_offsets.append(source)
    report.interrupted = [str(p) for p in area.interrupted()]
    report.orphans = [str(p) for p in area.orphans(entries)]
    return report


def _offsets_hold(bot: Assistant, path: Path, chunk_ids: list[str]) -> bool:
    try:
        text = load_within(path, bot.max_file_bytes, source=str(path), budget=bot.load_budget).text
    except IngestError as exc:
        log.warning("doctor: %s no longer loads: %s", path, exc)
        return False
    return all(text[c.start : c.end] == c.text for c in bot.collection.stored_copies(chunk_ids))


def repair_files(bot: Assistant, area: UploadArea) -> FilesReport:
    """Fix what check_files finds (see the module docstring); returns the report after repair."""
    found = check_files(bot, area)
    done: list[str] = []
    settled = area.recover(bot.collection.manifest.load())
    done += [f"finished the interrupted upload of {n}" for n in settled.promoted]
    done += [f"dropped the never-ingested upload of {n}" for n in settled.dropped]
    entries = bot.collection.manifest.load()
    spares = {file_hash(Path(p)): Path(p) for p in found.orphans if Path(p).is_file()}
    still_changed = []
    for source in found.changed:
        spare = spares.pop(entries[source].content_hash, None) if source in entries else None
        if spare is not None and area.holds(source):  # e.g. the old file kept aside by an earlier version
            os.replace(spare, source)
            done.append(f"put back the ingested version of {source} (from {spare.name})")
        else:
            still_changed.append(source)
    for orphan in area.orphans(entries):
        orphan.unlink(missing_ok=True)
        done.append(f"removed the orphaned upload file {orphan.name}")
    stale = [s for s in [*still_changed, *found.broken_offsets] if Path(s).is_file()]
    if found.broken_offsets:  # the same ids would be kept as they are: drop them so they are rewritten
        bot.collection.remove([s for s in found.broken_offsets if Path(s).is_file()])
    if stale:
        bot.collection.mark_changed(stale)
        report = bot.ingest(stale)
        done.append(f"ingested again {len(stale)} sources whose file or offsets changed: {report.summary()}")
    after = check_files(bot, area)
    after.repaired = done
    return after
