"""What has been ingested: one entry per source with its content hash and chunk ids."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SourceEntry:
    source: str
    title: str
    content_hash: str
    chunk_ids: tuple[str, ...]
    ingested_at: str

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)


class Manifest:
    """A JSON file written atomically (temp file, fsync, rename): a crash leaves old or new, never half."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, SourceEntry]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        return {
            src: SourceEntry(**{**entry, "chunk_ids": tuple(entry["chunk_ids"])})
            for src, entry in raw.get("sources", {}).items()
        }

    def save(self, entries: dict[str, SourceEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        payload = {"version": 1, "sources": {src: asdict(e) for src, e in sorted(entries.items())}}
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(payload, out, ensure_ascii=False, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
