"""Reciprocal rank fusion: a pure function over ranked hit lists."""

from __future__ import annotations

from collections.abc import Sequence

from store.records import Hit


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None, k: int = 60
) -> list[Hit]:
    """Fuse ranked lists: score(chunk) = sum of weight / (k + rank) over the lists it is in.

    Ties keep the order of first appearance (earlier list, better rank). Returns new Hits with the
    fused score and ranks 1..n.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    chunks = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for hit in ranking:
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + weight / (k + hit.rank)
            chunks.setdefault(hit.chunk.id, hit.chunk)
    ordered = sorted(scores, key=lambda cid: -scores[cid])  # sorted() is stable
    return [Hit(chunks[cid], scores[cid], rank) for rank, cid in enumerate(ordered, start=1)]
