"""`assistant doctor`: do Chroma, the keyword index and the manifest agree? `--repair` makes them.

The manifest says which chunk ids should exist. Chunks an index holds beyond that are orphans
(deleted); chunks one index lacks are copied from the other (re-embedded when Chroma lacks them);
a source whose chunks both indexes lack is marked for re-ingest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from store.collection import Collection

log = logging.getLogger(__name__)


@dataclass
class ConsistencyReport:
    manifest_chunks: int = 0
    dense_chunks: int = 0
    keyword_chunks: int = 0
    orphans_dense: list[str] = field(default_factory=list)
    orphans_keyword: list[str] = field(default_factory=list)
    missing_dense: list[str] = field(default_factory=list)
    missing_keyword: list[str] = field(default_factory=list)
    missing_sentences: list[str] = field(default_factory=list)
    pending_deletes: int = 0
    reingest: list[str] = field(default_factory=list)  # sources to ingest again (chunks lost everywhere)

    @property
    def ok(self) -> bool:
        return not (self.orphans_dense or self.orphans_keyword or self.missing_dense or self.missing_keyword
                    or self.missing_sentences or self.pending_deletes or self.reingest)

    def lines(self) -> list[str]:
        return [
            f"manifest: {self.manifest_chunks} chunks; chroma: {self.dense_chunks}; keyword index: "
            f"{self.keyword_chunks}",
            f"orphans: {len(self.orphans_dense)} in chroma, {len(self.orphans_keyword)} in the keyword index",
            f"missing: {len(self.missing_dense)} from chroma, {len(self.missing_keyword)} from the keyword index, "
            f"{len(self.missing_sentences)} chunks without sentence vectors",
            f"unfinished deletions: {self.pending_deletes}; sources to re-ingest: {len(self.reingest)}",
            "consistent" if self.ok else "NOT consistent (run `assistant doctor --repair`)",
        ]


def check(collection: Collection) -> ConsistencyReport:
    entries = collection.manifest.load()
    expected = {cid for e in entries.values() for cid in e.chunk_ids}
    dense = set(collection.dense.all_ids())
    keyword = set(collection.keyword.all_ids())
    report = ConsistencyReport(
        manifest_chunks=len(expected), dense_chunks=len(dense), keyword_chunks=len(keyword),
        orphans_dense=sorted(dense - expected), orphans_keyword=sorted(keyword - expected),
        missing_dense=sorted(expected - dense), missing_keyword=sorted(expected - keyword),
        pending_deletes=len(collection.manifest.pending_deletes()),
    )
    present = [c for c in collection.dense.get(sorted(dense & expected))]
    with_vectors = collection.dense.sentence_vectors(present)
    report.missing_sentences = sorted(c.id for c in present if c.sentences and c.id not in with_vectors)
    lost = set(report.missing_dense) & set(report.missing_keyword)
    report.reingest = sorted(s for s, e in entries.items() if lost & set(e.chunk_ids))
    return report


def repair(collection: Collection) -> ConsistencyReport:
    """Fix what check() finds, under the write lock; returns the report after repair."""
    with collection.writing():  # also finishes pending deletions
        found = check(collection)
        collection.dense.delete(found.orphans_dense)
        collection.keyword.delete(found.orphans_keyword)
        from_keyword = collection.keyword.get([i for i in found.missing_dense if i not in found.missing_keyword])
        collection.dense.delete(found.missing_sentences)
        collection.dense.add([*from_keyword, *collection.keyword.get(found.missing_sentences)])
        collection.keyword.add(collection.dense.get(found.missing_keyword))
        if found.reingest:  # an empty hash makes the next ingest treat it as changed
            collection.mark_changed(found.reingest)
            for source in found.reingest:
                log.warning("chunks of %s are lost from both indexes: ingest it again", source)
    after = check(collection)
    after.reingest = found.reingest
    return after
