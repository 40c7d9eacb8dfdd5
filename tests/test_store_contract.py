"""The store's contracts (store/protocol.py): ChunkIndex, run on every index (Chroma and BM25), and
SearchableStore, the seam the retriever reads through, run on the Collection.

One base class holds the tests; each subclass provides the ``index`` fixture (and ``reopen``, a second
instance on the same storage), in the style of haystack's document-store test mixins. The Collection runs
in the embedded mode, and in the server mode in the `chroma run` pass of scripts/test.sh (ASSISTANT_CHROMA_URL).
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ingest.chunking import ChunkingConfig, chunk_document
from ingest.records import Chunk, Document
from store.chroma_index import ChromaIndex, embedding_input, open_chroma_client
from store.collection import Collection, EmbeddedStorage, ServerStorage, storage_for
from store.keyword_index import KeywordIndex
from store.protocol import ChunkIndex, SearchableStore
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


def _documents() -> dict[str, tuple[Document, Chunk]]:
    """One document and its one chunk per topic, from the real chunker; the volcano doc carries a page
    and metadata."""
    found = {}
    for name, text in TOPICS.items():
        doc = Document(f"/docs/{name}.md", text, name.title(), metadata={"author": f"Writer of {name}"},
                       page_starts=((0, 7),) if name == "volcanoes" else ())
        [chunk] = chunk_document(doc, ChunkingConfig())
        found[name] = (doc, chunk)
    return found


DOCUMENTS = _documents()
CHUNKS = {name: chunk for name, (_, chunk) in DOCUMENTS.items()}


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

    def test_both_collections_search_wide_also_when_opened_again(self, filled, reopen):
        """Chroma's default breadth (ef_search 100) misses some true neighbours, differently per process."""
        from store.chroma_index import SEARCH_EF

        for index in (filled, reopen()):
            for collection in (index.chunks, index.sentences):
                assert collection.configuration["hnsw"]["ef_search"] == SEARCH_EF

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


# ---------------------------------------------------------------------------- the retriever's seam

SEARCHES = ("search_chunks", "search_sentences", "search_keywords")


class SearchableStoreContract:
    """Tests every SearchableStore passes; ``store`` is empty (filled by ``put``), ``reopen`` gives a second one."""

    @pytest.fixture
    def store(self) -> Collection:
        raise NotImplementedError

    @pytest.fixture
    def reopen(self):
        raise NotImplementedError

    @pytest.fixture
    def filled(self, store) -> Collection:
        results = store.put([(doc, [chunk]) for doc, chunk in DOCUMENTS.values()])
        assert [r.status for r in results] == ["added"] * len(DOCUMENTS)
        return store

    def test_implements_the_protocol(self, store):
        assert isinstance(store, SearchableStore)

    def test_empty_store_finds_nothing(self, store):
        for search in SEARCHES:
            assert getattr(store, search)(QUERIES["chess"], 5) == [], search
        assert store.get([CHUNKS["chess"].id]) == []
        assert store.sentence_vectors([CHUNKS["chess"]]) == {}
        assert store.best_sentence_scores(["anything at all"]) == [0.0]

    def test_best_sentence_scores_say_how_close_the_store_comes_to_each_query(self, store, filled):
        queries = [QUERIES["chess"], "How do I renew my passport?", QUERIES["bananas"]]
        chess, passport, bananas = filled.best_sentence_scores(queries)
        best_chess = max(filled.sentence_vectors([CHUNKS["chess"]])[CHUNKS["chess"].id] @
                         filled.dense.embedder.query_vector(QUERIES["chess"]))
        assert chess == pytest.approx(float(best_chess), abs=1e-4), "the closest sentence's cosine"
        assert passport < min(chess, bananas), "an unrelated question comes less close"
        assert filled.best_sentence_scores([]) == []

    @pytest.mark.parametrize("search", SEARCHES)
    @pytest.mark.parametrize("topic", list(QUERIES))
    def test_every_search_finds_the_relevant_chunk_first(self, filled, search, topic):
        hits = getattr(filled, search)(QUERIES[topic], 3)
        assert hits, f"{search}: no hits for an obvious query"
        assert hits[0].chunk == CHUNKS[topic]  # the chunk, every field round-tripped

    @pytest.mark.parametrize("search", SEARCHES)
    def test_every_search_ranks_one_to_n_best_first_at_most_k(self, filled, search):
        run = getattr(filled, search)
        hits = run("volcanic ash and yellow bananas and chess knights", 10)
        assert 2 <= len(hits) <= len(CHUNKS)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert all(a.score >= b.score for a, b in pairwise(hits))
        assert len({h.chunk.id for h in hits}) == len(hits)
        assert len(run("volcanic ash and yellow bananas and chess knights", 2)) == 2
        assert run("volcano lava", 0) == []

    def test_keyword_search_needs_an_indexed_word(self, filled):
        assert filled.search_keywords("zeppelin quasar", 5) == []
        assert filled.search_keywords("the and of", 5) == []  # stop words only

    def test_the_vocabulary_counts_the_chunks_that_hold_each_word(self, store, filled):
        vocabulary = filled.vocabulary()
        holding = [c for c in CHUNKS.values() if "knight" in f"{c.title} {c.section} {c.text}".lower()]
        assert vocabulary["knight"] == len(holding) >= 1
        assert "zeppelin" not in vocabulary and all(w.isalpha() and w.islower() for w in vocabulary)
        filled.remove([CHUNKS["chess"].source])
        assert filled.vocabulary().get("knight", 0) == len(holding) - 1, "a removed chunk's words go"

    def test_find_text_matches_the_stored_texts_up_to_the_limit(self, filled):
        import re

        words = filled.find_text(re.compile(r"\b[A-Z][a-z]+\b"), 100)
        assert words and all(any(w in c.text for c in CHUNKS.values()) for w in words)
        assert len(filled.find_text(re.compile(r"\w+"), 3)) == 3
        assert filled.find_text(re.compile("zeppelin"), 5) == []

    def test_chunk_scores_are_the_cosine_of_the_chunk_vector(self, filled, embedder):
        query = embedder.query_vector(QUERIES["markets"])
        for hit in filled.search_chunks(QUERIES["markets"], len(CHUNKS)):
            vector = embedder.encode([embedding_input(hit.chunk)[0]])[0]
            assert hit.score == pytest.approx(float(vector @ query), abs=1e-3)

    def test_sentence_scores_are_the_cosine_of_the_best_sentence(self, filled, embedder):
        query = embedder.query_vector(QUERIES["markets"])
        hits = filled.search_sentences(QUERIES["markets"], len(CHUNKS))
        matrices = filled.sentence_vectors([h.chunk for h in hits])
        for hit in hits:
            assert hit.score == pytest.approx(float(np.max(np.asarray(matrices[hit.chunk.id]) @ query)), abs=1e-4)

    def test_sentence_search_finds_a_chunk_by_one_sentence(self, filled):
        """The second sentence of the chess chunk, in other words, is enough."""
        assert filled.search_sentences("the game is over when the king is trapped", 1)[0].chunk == CHUNKS["chess"]

    def test_sentence_vectors_are_unit_rows_per_sentence_of_stored_chunks(self, filled, embedder):
        stored = [CHUNKS["volcanoes"], CHUNKS["chess"]]
        unknown = Chunk("no-such-id", "/docs/x.md", "Nothing here.", 0, 13, "X", "", ((0, 13),))
        matrices = filled.sentence_vectors([*stored, unknown])
        assert set(matrices) == {c.id for c in stored}
        for chunk in stored:
            matrix = np.asarray(matrices[chunk.id])
            assert matrix.shape == (len(chunk.sentences), embedder.dimension)
            assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
        knight = embedder.query_vector("the knight moves in an L shape")
        chess = np.asarray(matrices[CHUNKS["chess"].id])
        assert float(chess[0] @ knight) > float(chess[1] @ knight)  # row i is sentence i
        assert filled.sentence_vectors([]) == {}

    def test_get_returns_equal_chunks_in_the_order_asked_and_skips_unknown(self, filled):
        asked = [CHUNKS["markets"].id, "no-such-id", CHUNKS["volcanoes"].id]
        assert filled.get(asked) == [CHUNKS["markets"], CHUNKS["volcanoes"]]
        assert filled.get([]) == []

    def test_a_removed_source_is_gone_from_every_search(self, filled):
        gone = CHUNKS["bananas"]
        assert filled.remove([gone.source]) == [gone.source]
        for search in SEARCHES:
            assert all(h.chunk.id != gone.id for h in getattr(filled, search)(QUERIES["bananas"], 5)), search
        assert filled.get([gone.id]) == [] and filled.sentence_vectors([gone]) == {}
        assert filled.search_keywords(QUERIES["chess"], 1)[0].chunk == CHUNKS["chess"]

    def test_a_second_instance_sees_the_writes_of_the_first(self, filled, reopen):
        other = reopen()
        for search in SEARCHES:
            assert getattr(other, search)(QUERIES["markets"], 1)[0].chunk == CHUNKS["markets"], search
        filled.remove([CHUNKS["markets"].source])
        assert other.follow_other_writers()
        for search in SEARCHES:
            assert all(h.chunk.id != CHUNKS["markets"].id for h in getattr(other, search)(QUERIES["markets"], 5))
        assert other.get([CHUNKS["markets"].id]) == []

    def test_the_retriever_reads_through_the_protocol_only(self, filled):
        """HybridRetriever gets nothing but the protocol's methods: reaching past them (into an index)
        fails here."""
        from assistant.retrieval import HybridRetriever, RetrievalConfig

        only = SimpleNamespace(**{name: getattr(filled, name) for name in (*SEARCHES, "sentence_vectors", "get")})
        retriever = HybridRetriever(only, RetrievalConfig(k=2, per_section=1))
        for topic, query in QUERIES.items():
            hits = retriever.retrieve(query)
            assert hits[0].chunk == CHUNKS[topic] and [h.rank for h in hits] == [1, 2]


class TestCollectionContract(SearchableStoreContract):
    """The Collection in the mode of this run: embedded, or on the `chroma run` server of ASSISTANT_CHROMA_URL."""

    @pytest.fixture
    def store(self, data_dir: Path, embedder) -> Collection:
        return Collection(data_dir, embedder, CHROMA_URL, chroma_prefix=_prefix())

    @pytest.fixture
    def reopen(self, data_dir: Path, tmp_path: Path, embedder):
        # with a server, another app's data dir (the store is all on the server); embedded, the same one
        folder = tmp_path / "other-app" if CHROMA_URL else data_dir
        return lambda: Collection(folder, embedder, CHROMA_URL, chroma_prefix=_prefix())

    def test_the_constructor_picks_the_storage_mode(self, store, tmp_path: Path):
        assert isinstance(store.storage, ServerStorage if CHROMA_URL else EmbeddedStorage)
        embedded = storage_for(tmp_path, None, "p-")
        assert isinstance(embedded, EmbeddedStorage) and embedded.where == str(tmp_path)
        served = storage_for(tmp_path, "http://127.0.0.1:9", "p-")  # nothing connects before open_client
        assert isinstance(served, ServerStorage) and served.where == "http://127.0.0.1:9 (p-)"
