"""Reciprocal rank fusion: a pure function, tested on hand-made rankings."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ingest.records import Chunk
from store.fusion import reciprocal_rank_fusion
from store.records import Hit


def _chunk(cid: str) -> Chunk:
    return Chunk(id=cid, source=f"/docs/{cid}.md", text=f"text of {cid}", start=0, end=10, title=cid,
                 section="Introduction", sentences=((0, 10),))


def _ranking(*ids: str) -> list[Hit]:
    return [Hit(_chunk(cid), score=100.0 - rank, rank=rank) for rank, cid in enumerate(ids, start=1)]


def _ids(hits: list[Hit]) -> list[str]:
    return [h.chunk.id for h in hits]


def test_single_ranking_keeps_its_order_and_gets_rrf_scores():
    fused = reciprocal_rank_fusion([_ranking("a", "b", "c")], k=60)
    assert _ids(fused) == ["a", "b", "c"]
    assert [h.rank for h in fused] == [1, 2, 3]
    assert [h.score for h in fused] == pytest.approx([1 / 61, 1 / 62, 1 / 63])


def test_scores_sum_weight_over_k_plus_rank_across_lists():
    fused = reciprocal_rank_fusion([_ranking("a", "b"), _ranking("b", "c")], weights=[2.0, 0.5], k=10)
    scores = {h.chunk.id: h.score for h in fused}
    assert scores == pytest.approx({"a": 2 / 11, "b": 2 / 12 + 0.5 / 11, "c": 0.5 / 12})
    assert _ids(fused) == ["b", "a", "c"]


def test_chunk_in_both_lists_outranks_chunks_in_one():
    fused = reciprocal_rank_fusion([_ranking("a", "shared"), _ranking("b", "shared")])
    assert fused[0].chunk.id == "shared"
    assert set(_ids(fused)) == {"a", "b", "shared"}


def test_ranks_are_one_to_n_and_scores_never_increase():
    fused = reciprocal_rank_fusion([_ranking("a", "b", "c", "d"), _ranking("d", "e", "a"), _ranking("f")])
    assert [h.rank for h in fused] == list(range(1, len(fused) + 1))
    assert len(fused) == len(set(_ids(fused))) == 6
    assert all(x.score >= y.score for x, y in pairwise(fused))


def test_weights_decide_which_list_leads():
    dense, keyword = _ranking("d1", "d2"), _ranking("k1", "k2")
    assert _ids(reciprocal_rank_fusion([dense, keyword], weights=[1.0, 3.0]))[0] == "k1"
    assert _ids(reciprocal_rank_fusion([dense, keyword], weights=[3.0, 1.0]))[0] == "d1"


def test_zero_weight_list_cannot_change_the_order():
    fused = reciprocal_rank_fusion([_ranking("a", "b", "c"), _ranking("c", "b", "a")], weights=[1.0, 0.0])
    assert _ids(fused) == ["a", "b", "c"]


def test_ties_keep_the_order_of_first_appearance():
    # a and b get exactly the same fused score; a appears first (earlier list, better rank).
    fused = reciprocal_rank_fusion([_ranking("a", "b"), _ranking("b", "a")])
    assert fused[0].score == fused[1].score
    assert _ids(fused) == ["a", "b"]
    # Disjoint lists: equal ranks tie, and the earlier list wins each tie.
    assert _ids(reciprocal_rank_fusion([_ranking("x", "y"), _ranking("p", "q")])) == ["x", "p", "y", "q"]


def test_uses_the_hits_rank_not_their_position_or_score():
    later = [Hit(_chunk("late"), score=999.0, rank=5)]
    fused = reciprocal_rank_fusion([later, _ranking("early")], k=60)
    assert _ids(fused) == ["early", "late"]
    assert fused[1].score == pytest.approx(1 / 65)


def test_keeps_the_chunk_objects_it_was_given():
    ranking = _ranking("a")
    fused = reciprocal_rank_fusion([ranking, _ranking("a")])
    assert fused[0].chunk is ranking[0].chunk
    assert ranking[0].rank == 1 and ranking[0].score == 99.0  # inputs untouched


def test_weight_count_must_match_ranking_count():
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([_ranking("a"), _ranking("b")], weights=[1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([_ranking("a")], weights=[1.0, 1.0])


def test_no_rankings_or_empty_rankings_fuse_to_nothing():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
