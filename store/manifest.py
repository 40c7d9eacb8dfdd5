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
    chunking: str = ""  # the chunking settings its chunks were cut with; other settings mean re-chunk

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)


class Manifest:
    """A JSON file written atomically (temp file, fsync, rename): a crash leaves old or new, never half."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _raw(self) -> dict:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def load(self) -> dict[str, SourceEntry]:
        return {
            src: SourceEntry(**{**entry, "chunk_ids": tuple(entry["chunk_ids"])})
            for src, entry in self._raw().get("sources", {}).items()
        }

    def pending_deletes(self) -> list[str]:
        """Chunk ids a write was deleting when it stopped; the next write finishes the job."""
        return list(self._raw().get("pending_deletes", []))

    def save(self, entries: dict[str, SourceEntry], pending_deletes: list[str] | tuple[str, ...] = ()) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        payload = {
            "version": 1,
            "sources": {src: asdict(e) for src, e in sorted(entries.items())},
            "pending_deletes": list(pending_deletes),
        }
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(payload, out, ensure_ascii=False, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
