"""Pooling token embeddings into unit vectors: the arithmetic every encoder backend shares.

The model is Transformer -> mean Pooling -> Normalize. A text's vector is the mean of its token
embeddings over the attention mask; a span's vector (a sentence inside a chunk) is the mean of the
tokens whose characters overlap the span, from the same pass ("late" pooling). Both are L2-normalized.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (an all-zero row stays zero instead of dividing by 0)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit vectors of a padded batch: ``tokens`` (batch, seq, dim) averaged over ``mask`` (batch, seq)."""
    weights = mask.astype(np.float32)[:, :, None]
    pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return normalize(pooled)


def pool_spans(
    tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    """Unit vectors of character ``spans`` of one text, from its unpadded ``tokens`` (seq, dim).

    ``offsets`` (seq, 2) are each token's characters; special tokens have empty offsets and never
    count. A span no token covers (beyond the model's token window) gets ``fallback``, the whole text's
    vector.
    """
    real = offsets[:, 1] > offsets[:, 0]
    result = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (offsets[:, 0] < end) & (offsets[:, 1] > start)
        result[row] = tokens[inside].mean(axis=0) if inside.any() else fallback
    return normalize(result)
