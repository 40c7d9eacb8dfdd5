"""The ChunkIndex contract (store/protocol.py), run on every index: Chroma (dense) and BM25 (keywords).

One base class holds the tests; each subclass provides the ``index`` fixture (and ``reopen``, a second
instance on the same storage), in the style of haystack's document-store test mixins.
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import ChunkingConfig, chunk_document
from ingest.records import Chunk, Document
from store.chroma_index import ChromaIndex, open_chroma_client
from store.keyword_index import KeywordIndex
from store.protocol import ChunkIndex
from tests.conftest import CHROMA_URL

TOPICS = {
    "volcanoes": "# Volcanoes\n\nVolcanoes erupt molten lava and ash when magma rises from the mantle. "
                 "An eruption can bury nearby towns under volcanic ash.",
    "bananas": "# Bananas\n\nBananas are yellow tropical fruit that grow in large hanging bunches. "
               "A ripe banana is sweet and soft.",
    "chess": "# Chess\n\nIn chess, the knight moves in an L shape and can jump over other pieces. "
             "Checkmate ends the game when the king cannot escape.",
    "photosynthesis": "# Photosynthesis\n\nPlants use chlorophyll to turn sunlight, water and carbon dioxide "
                      "into sugar and oxygen. This process is called photosynthesis.",
    "markets": "# Markets\n\nThe stock market fell sharply as investors sold bank shares. "
               "Interest rates and inflation worried traders all week.",
}
QUERIES = {
    "volcanoes": "volcano eruption lava ash",
    "bananas": "yellow banana fruit",
    "chess": "knight moves in chess",
    "photosynthesis": "chlorophyll sunlight photosynthesis",
    "markets": "stock market investors shares",
}


def _chunks() -> dict[str, Chunk]:
    """One chunk per topic, from the real chunker; the volcano doc carries a page and metadata."""
    found = {}
    for name, text in TOPICS.items():
        doc = Document(f"/docs/{name}.md", text, name.title(), metadata={"author": f"Writer of {name}"},
                       page_starts=((0, 7),) if name == "volcanoes" else ())
        [chunk] = chunk_document(doc, ChunkingConfig())
        found[name] = chunk
    return found


CHUNKS = _chunks()


def _prefix() -> str:
    """The collection prefix of this test (set per test when the suite runs against a server)."""
    return os.environ.get("ASSISTANT_CHROMA_PREFIX", "")


class ChunkIndexContract:
    """Tests every ChunkIndex passes. Subclasses provide the ``index`` and ``reopen`` fixtures."""

    @pytest.fixture
    def index(self) -> ChunkIndex:
        raise NotImplementedError

    @pytest.fixture
    def reopen(self):
        """A callable giving a second, independent instance on the same storage."""
        raise NotImplementedError

    @pytest.fixture
    def filled(self, index) -> ChunkIndex:
        index.add(list(CHUNKS.values()))
        return index

    def test_implements_the_protocol(self, index):
        assert isinstance(index, ChunkIndex)

    def test_empty_index(self, index):
        assert index.count() == 0
        assert index.search("volcano", 5) == []
        assert index.get([CHUNKS["chess"].id]) == []
        index.delete([CHUNKS["chess"].id])  # unknown ids are ignored
        assert index.count() == 0

    def test_add_counts_each_chunk_once(self, filled):
        assert filled.count() == len(CHUNKS)

    def test_add_is_idempotent(self, filled):
        filled.add(list(CHUNKS.values()))
        filled.add([CHUNKS["chess"], CHUNKS["chess"]])
        assert filled.count() == len(CHUNKS)
        hits = filled.search(QUERIES["chess"], 10)
        assert len(hits) == len({h.chunk.id for h in hits})

    def test_duplicates_in_one_add_are_stored_once(self, index):
        index.add([CHUNKS["bananas"], CHUNKS["bananas"], CHUNKS["chess"]])
        assert index.count() == 2

    def test_add_in_parts_accumulates(self, index):
        names = list(CHUNKS)
        index.add([CHUNKS[n] for n in names[:2]])
        assert index.count() == 2
        index.add([CHUNKS[n] for n in names[1:]])
        assert index.count() == len(CHUNKS)

    def test_get_returns_equal_chunks_in_the_order_asked_and_skips_unknown(self, filled):
        asked = [CHUNKS["markets"].id, "no-such-id", CHUNKS["volcanoes"].id, CHUNKS["bananas"].id]
        got = filled.get(asked)
        assert [c.id for c in got] == [CHUNKS["markets"].id, CHUNKS["volcanoes"].id, CHUNKS["bananas"].id]
        assert got == [CHUNKS["markets"], CHUNKS["volcanoes"], CHUNKS["bananas"]]  # every field round-trips
        assert got[1].page == 7 and got[1].metadata == {"author": "Writer of volcanoes"}
        assert got[0].page is None
        assert filled.get([]) == []

    @pytest.mark.parametrize("topic", list(QUERIES))
    def test_search_finds_the_relevant_chunk_first(self, filled, topic):
        hits = filled.search(QUERIES[topic], 3)
        assert hits, "no hits for an obvious query"
        assert hits[0].chunk.id == CHUNKS[topic].id
        assert hits[0].chunk == CHUNKS[topic]

    def test_search_ranks_are_one_to_n_best_first(self, filled):
        hits = filled.search("volcanic ash and yellow bananas and chess knights", 10)
        assert 2 <= len(hits) <= len(CHUNKS)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert all(a.score >= b.score for a, b in pairwise(hits))
        assert len({h.chunk.id for h in hits}) == len(hits)

    def test_search_returns_at_most_k(self, filled):
        assert len(filled.search("volcano lava banana chess stock", 2)) <= 2
        assert len(filled.search("volcano lava", 1)) == 1
        assert filled.search("volcano lava", 0) == []

    def test_delete_removes_and_ignores_unknown_ids(self, filled):
        filled.delete([CHUNKS["volcanoes"].id, "no-such-id"])
        assert filled.count() == len(CHUNKS) - 1
        assert filled.get([CHUNKS["volcanoes"].id]) == []
        assert all(h.chunk.id != CHUNKS["volcanoes"].id for h in filled.search("volcano eruption lava ash", 5))
        filled.delete([CHUNKS["volcanoes"].id])  # deleting again is harmless
        assert filled.count() == len(CHUNKS) - 1
        filled.delete([])
        assert filled.count() == len(CHUNKS) - 1

    def test_delete_everything_leaves_an_empty_index(self, filled):
        filled.delete([c.id for c in CHUNKS.values()])
        assert filled.count() == 0
        assert filled.search("volcano", 5) == []

    def test_deleted_chunks_can_be_added_again(self, filled):
        filled.delete([CHUNKS["chess"].id])
        filled.add([CHUNKS["chess"]])
        assert filled.count() == len(CHUNKS)
        assert filled.search(QUERIES["chess"], 1)[0].chunk.id == CHUNKS["chess"].id

    def test_a_second_instance_sees_what_was_stored(self, filled, reopen):
        filled.delete([CHUNKS["markets"].id])
        other = reopen()
        assert other.count() == len(CHUNKS) - 1
        assert other.get([CHUNKS["chess"].id]) == [CHUNKS["chess"]]
        assert other.get([CHUNKS["markets"].id]) == []
        assert other.search(QUERIES["bananas"], 1)[0].chunk.id == CHUNKS["bananas"].id


class TestChromaIndexContract(ChunkIndexContract):
    @pytest.fixture
    def chroma_path(self, tmp_path: Path) -> Path:
        return tmp_path / "chroma"

    @pytest.fixture
    def index(self, chroma_path, embedder) -> ChromaIndex:
        return ChromaIndex(open_chroma_client(chroma_path, CHROMA_URL), embedder, prefix=_prefix())

    @pytest.fixture
    def reopen(self, chroma_path, embedder):
        return lambda: ChromaIndex(open_chroma_client(chroma_path, CHROMA_URL), embedder, prefix=_prefix())

    def test_sentence_vectors_are_unit_rows_per_sentence(self, filled, embedder):
        chunks = [CHUNKS["volcanoes"], CHUNKS["chess"]]
        matrices = filled.sentence_vectors(chunks)
        assert set(matrices) == {c.id for c in chunks}
        for chunk in chunks:
            matrix = matrices[chunk.id]
            assert matrix.shape == (len(chunk.sentences), embedder.dimension) == (len(chunk.sentences), 384)
            assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
        # a sentence's vector is closer to its own words than to another topic
        knight = embedder.query_vector("the knight moves in an L shape")
        chess = matrices[CHUNKS["chess"].id]
        assert float(chess[0] @ knight) > float(chess[1] @ knight)
        assert filled.sentence_vectors([]) == {}

    def test_delete_removes_sentence_vectors_too(self, filled):
        total = sum(len(c.sentences) for c in CHUNKS.values())
        assert filled.sentences.count() == total
        gone = CHUNKS["bananas"]
        filled.delete([gone.id])
        assert filled.sentence_vectors([gone]) == {}
        assert filled.sentences.count() == total - len(gone.sentences)
        assert set(filled.sentence_vectors([CHUNKS["chess"]])) == {CHUNKS["chess"].id}

    def test_scores_are_cosine_similarities(self, filled):
        hits = filled.search(QUERIES["photosynthesis"], len(CHUNKS))
        assert len(hits) == len(CHUNKS)  # dense search ranks everything
        assert all(-1.0 <= h.score <= 1.0 for h in hits)
        assert hits[0].score > 0.3


class TestKeywordIndexContract(ChunkIndexContract):
    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        return tmp_path / "keyword"

    @pytest.fixture
    def index(self, folder) -> KeywordIndex:
        return KeywordIndex(folder)

    @pytest.fixture
    def reopen(self, folder):
        return lambda: KeywordIndex(folder)

    def test_a_live_second_instance_sees_later_appends_and_deletes(self, folder):
        writer, reader = KeywordIndex(folder), KeywordIndex(folder)
        assert reader.count() == 0
        assert reader.search(QUERIES["chess"], 3) == []
        writer.add([CHUNKS["chess"], CHUNKS["bananas"]])
        assert reader.count() == 2
        assert reader.search(QUERIES["chess"], 3)[0].chunk.id == CHUNKS["chess"].id
        writer.add([CHUNKS["volcanoes"]])
        assert reader.search(QUERIES["volcanoes"], 3)[0].chunk.id == CHUNKS["volcanoes"].id
        writer.delete([CHUNKS["chess"].id])
        assert reader.count() == 2
        assert all(h.chunk.id != CHUNKS["chess"].id for h in reader.search(QUERIES["chess"], 3))
        reader.add([CHUNKS["markets"]])  # and the other way round
        assert writer.count() == 3

    def test_unrelated_query_finds_nothing(self, filled):
        assert filled.search("zeppelin quasar", 5) == []
        assert filled.search("the and of", 5) == []  # stop words only

    def test_compact_keeps_live_rows_only(self, filled, folder):
        filled.delete([CHUNKS["chess"].id, CHUNKS["markets"].id])
        lines_before = len(filled.log_path.read_text(encoding="utf-8").splitlines())
        filled.compact()
        lines_after = len(filled.log_path.read_text(encoding="utf-8").splitlines())
        assert lines_after == len(CHUNKS) - 2 < lines_before
        assert KeywordIndex(folder).get([c.id for c in CHUNKS.values()]) == filled.get([c.id for c in CHUNKS.values()])
