"""The seam between the store and the model runtime: one ``Encoder`` protocol, and its torch implementation.

``store.embeddings.Embedder`` picks an encoder when it is built and only delegates to it. Two implement
the protocol: ``TorchEncoder`` here (sentence-transformers) and ``store.onnx_encoder.OnnxEncoder`` (the
same model exported to ONNX). Both pool with store/pooling.py, so their vectors agree. This module
imports neither ``store.embeddings`` nor ``store.onnx_encoder``: both import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from store.pooling import normalize, pool_spans


class ModelLoadError(RuntimeError):
    """The embedding model could not be loaded from disk."""


@runtime_checkable
class Encoder(Protocol):
    """Texts -> unit-length float32 vectors, one row per text."""

    max_seq_length: int  # tokens the model sees; longer texts are truncated
    dimension: int

    @property
    def model(self) -> Any:
        """What runs the model, for callers that time or inspect it: a SentenceTransformer, or the
        ONNX encoder itself (its ``session`` and ``tokenizer``)."""
        ...

    def query(self, text: str) -> np.ndarray:
        """The vector of one text (shape ``(dimension,)``)."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of ``texts`` (non-empty), shape ``(len(texts), dimension)``."""
        ...

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` (non-empty) and, from the same pass, of each text's character spans."""
        ...


class TorchEncoder:
    """The sentence-transformers model on torch (CPU)."""

    def __init__(self, model_dir: Path) -> None:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()
        try:
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the embedding model from {model_dir}: {exc}") from exc
        self.max_seq_length = int(self._model.max_seq_length)
        self.dimension = int(self._model.get_embedding_dimension())

    @property
    def model(self) -> Any:
        """The SentenceTransformer."""
        return self._model

    def query(self, text: str) -> np.ndarray:
        return self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``output_value=None`` gives the token embeddings next to the sentence embedding; the tokenizer,
        run again (cheap next to the model), gives the token offsets that sentence-transformers drops."""
        outputs = self._model.encode(list(texts), batch_size=batch_size, output_value=None)
        offsets = self._model.tokenizer(
            list(texts), return_offsets_mapping=True, truncation=True, max_length=self.max_seq_length
        )["offset_mapping"]
        text_vectors = normalize(np.stack([_to_numpy(out["sentence_embedding"]) for out in outputs]))
        span_vectors = [
            pool_spans(_real_tokens(out), np.asarray(offs), text_spans, text_vectors[i])
            for i, (out, offs, text_spans) in enumerate(zip(outputs, offsets, spans, strict=True))
        ]
        return text_vectors, span_vectors


def _real_tokens(output: dict) -> np.ndarray:
    """Token embeddings without the batch padding (sentence-transformers pads to the longest text)."""
    length = int(_to_numpy(output["attention_mask"]).sum())
    return _to_numpy(output["token_embeddings"])[:length]


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
