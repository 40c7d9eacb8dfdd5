"""The embedding model on ONNX Runtime: local export, int8 quantization, and the encoder.

Nothing is downloaded: the transformer of the installed sentence-transformers model folder is exported
with ``torch.onnx.export`` (input_ids, attention_mask, token_type_ids -> last_hidden_state, dynamic batch
and sequence axes) and, for int8, quantized with ``onnxruntime.quantization.quantize_dynamic``. The files
are cached in ``<cache_dir>/<key>/``, the key a fingerprint of the model files, the torch / onnx /
onnxruntime versions and the export recipe: a new model or library version exports anew. Every file is
written to a temporary name and renamed, so a crash never leaves a half-written model behind, and a file
lock keeps two processes starting together from exporting twice.

``OnnxEncoder`` tokenizes with the model folder's own ``tokenizer.json`` through the ``tokenizers``
library directly (max_seq_length and truncation as the SentenceTransformer: the same ids and offsets as
the transformers fast tokenizer, which wraps the same file), runs the graph, then mean-pools over the
attention mask and L2-normalizes, which is what the model's Transformer -> Pooling(mean) -> Normalize
pipeline does. Loading an exported model imports neither torch nor transformers (only the export does):
that is what makes a cold ``assistant ask`` fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from store.encoders import ModelLoadError
from store.pooling import mean_pool, pool_spans

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the export recipe changes: cached files are rebuilt
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# int8 weights per channel: the per-tensor default drifted up to 1-cos 0.13 from torch (docs/bench.md)
INT8_RECIPE = {"op_types": ["MatMul"], "per_channel": True, "reduce_range": False, "weight_type": "QInt8"}
LOCK_TIMEOUT_S = 600.0  # another process exporting the same files: wait for it


@dataclass(frozen=True)
class OnnxFiles:
    fp32: Path
    int8: Path | None
    export_s: float | None  # seconds the export took (when it was done, maybe by an earlier process)
    quantize_s: float | None


# ---------------------------------------------------------------------------- model checks


def pooling_config(model_dir: Path) -> dict:
    """The model must be Transformer -> mean Pooling -> Normalize: that is what the encoder replicates."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((model_dir / pooling_dir / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ModelLoadError(f"cannot read the sentence-transformers configuration in {model_dir}: {exc}") from exc
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if kinds != ["Transformer", "Pooling", "Normalize"] or modes != ["pooling_mode_mean_tokens"]:
        raise ModelLoadError(f"the ONNX backends support Transformer -> mean pooling -> Normalize models only; "
                             f"{model_dir} is {kinds} with pooling {modes}")
    if st_config.get("do_lower_case"):
        raise ModelLoadError(f"the ONNX backends do not support do_lower_case models ({model_dir})")
    return {"modules": kinds, "pooling": modes, "max_seq_length": int(st_config["max_seq_length"]),
            "dimension": int(pooling["word_embedding_dimension"]), "do_lower_case": False}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelLoadError(f"no model.safetensors or pytorch_model.bin in {model_dir}")


def _weights_sha256(weights: Path, cache_dir: Path) -> str:
    """The weights' hash, remembered in ``cache_dir`` per (path, size, mtime): hashing 90 MB on every start
    would cost a cold CLI call a sixth of a second."""
    stat = weights.stat()
    memo_key = f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    memo_file = cache_dir / "weights-sha256.json"
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if memo_key not in memo:
        memo[memo_key] = _sha256(weights)
        try:
            _write_json(memo_file, memo)
        except OSError:  # a read-only cache still works, it just hashes every time
            log.debug("cannot write %s", memo_file)
    return memo[memo_key]


def fingerprint(model_dir: Path, cache_dir: Path) -> dict:
    """What the exported graph depends on; its hash names the cache folder. Package versions are read from
    their metadata: importing torch to ask its version would cost seconds on every start."""
    return {"version": EXPORT_VERSION, "opset": OPSET,
            "weights_sha256": _weights_sha256(_weights_file(model_dir), cache_dir),
            "config_sha256": _sha256(model_dir / "config.json"), "torch": _version("torch"),
            "onnx": _version("onnx"), "onnxruntime": _version("onnxruntime")}


def _installed(module: str) -> bool:
    """Importable, without importing it (onnx takes a while and only the export needs it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def _key(value: dict, length: int) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------- export and quantization


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.stem}.{os.getpid()}.tmp.onnx")


def export_onnx(model_dir: Path, target: Path) -> float:
    """The transformer part of the model -> ONNX (last_hidden_state), atomically. Returns seconds taken."""
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
    tmp = _tmp_name(target)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(model), (ids, mask, torch.zeros_like(ids)), str(tmp),
                input_names=list(INPUTS), output_names=["last_hidden_state"], dynamic_axes=dynamic,
                opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return time.perf_counter() - started


def quantize_int8(fp32: Path, target: Path, recipe: dict) -> float:
    """Dynamic int8 quantization (weights int8, activations quantized at run time), atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    tmp = _tmp_name(target)
    root = logging.getLogger()
    root.addFilter(_no_preprocessing_hint)
    try:
        quantize_dynamic(
            str(fp32), str(tmp), weight_type=getattr(QuantType, recipe.get("weight_type", "QInt8")),
            op_types_to_quantize=recipe["op_types"], per_channel=recipe["per_channel"],
            reduce_range=recipe["reduce_range"],
        )
        os.replace(tmp, target)
    finally:
        root.removeFilter(_no_preprocessing_hint)
        tmp.unlink(missing_ok=True)
    return time.perf_counter() - started


def _no_preprocessing_hint(record: logging.LogRecord) -> bool:
    """quantize_dynamic logs "Please consider to run pre-processing" on the root logger: not for our users."""
    return not str(record.msg).startswith("Please consider to run pre-processing")


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def onnx_files(model_dir: Path, cache_dir: Path, int8_recipe: dict | None = None) -> OnnxFiles:
    """The fp32 ONNX file of ``model_dir`` (and its int8 version when a recipe is given), exported on first use.

    Raises ModelLoadError naming the cause when a package is missing or the export fails.
    """
    from filelock import FileLock, Timeout

    missing = [name for name in ("onnx", "onnxruntime") if not _installed(name)]
    if missing:  # onnx: torch.onnx.export and quantize_dynamic need it
        raise ModelLoadError(f"the ONNX embedding backends need the onnx and onnxruntime packages "
                             f"(pip install onnx==1.23.2 onnxruntime==1.32.0): {', '.join(missing)} missing")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        want = fingerprint(model_dir, cache_dir)
        folder = cache_dir / _key(want, 16)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(f"cannot prepare the ONNX model cache {cache_dir}: {exc}; point "
                             "ASSISTANT_MODEL_CACHE at a writable folder") from exc
    fp32 = folder / "model-fp32.onnx"
    int8 = folder / f"model-int8-{_key(int8_recipe, 8)}.onnx" if int8_recipe else None
    marker = folder / "export.json"
    try:
        with FileLock(str(folder) + ".lock", timeout=LOCK_TIMEOUT_S):
            info = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
            if not fp32.exists():
                log.warning("exporting the embedding model to ONNX in %s (once)", folder)
                info = {"fingerprint": want, "model_dir": str(model_dir), "export_s": export_onnx(model_dir, fp32),
                        "quantize_s": {}}
                _write_json(marker, info)
            if int8 is not None and not int8.exists():
                log.warning("quantizing the ONNX embedding model to int8 (once)")
                seconds = quantize_int8(fp32, int8, int8_recipe)
                info.setdefault("quantize_s", {})[int8.name] = seconds
                info.setdefault("int8_recipes", {})[int8.name] = int8_recipe
                _write_json(marker, info)
    except Timeout as exc:
        raise ModelLoadError(f"another process has been exporting the ONNX model in {folder} for over "
                             f"{LOCK_TIMEOUT_S:.0f} s; remove {folder}.lock if no process is") from exc
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot export the embedding model {model_dir} to ONNX in {folder}: "
                             f"{type(exc).__name__}: {exc}") from exc
    return OnnxFiles(fp32, int8, info.get("export_s"), info.get("quantize_s", {}).get(int8.name) if int8 else None)


# ---------------------------------------------------------------------------- the encoder


def load_tokenizer(model_dir: Path, max_length: int):
    """The model folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` set up as sentence-transformers
    calls it: truncated to ``max_length``, padded to the longest text of a batch (the file's own settings,
    fixed padding to 128 for this model, are replaced)."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(path))
        special = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except Exception as exc:
        raise ModelLoadError(f"the ONNX backends need the model's fast tokenizer ({path}): {exc}") from exc
    pad_token = special.get("pad_token") or "[PAD]"
    pad_token = pad_token.get("content", "[PAD]") if isinstance(pad_token, dict) else pad_token
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise ModelLoadError(f"the tokenizer in {model_dir} has no padding token {pad_token!r}")
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


class OnnxEncoder:
    """Tokenize -> onnxruntime -> mean pooling over the mask -> L2 normalize, like the SentenceTransformer.

    An ``Encoder`` (store/encoders.py).
    """

    def __init__(self, path: Path, model_dir: Path, max_seq_length: int, threads: int, dimension: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: spinning ORT threads steal the cores from whatever runs next
        # (the rest of ask/ingest). Measured in the bench: interleaved torch queries 2x slower
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(f"cannot load the ONNX model {path} ({type(exc).__name__}: {exc}); "
                                 "delete it to export it again") from exc
        self.tokenizer = load_tokenizer(model_dir, max_seq_length)
        self.max_seq_length = max_seq_length
        self.path = path
        self.wanted = {i.name for i in self.session.get_inputs()}
        self.dimension = dimension or int(self.session.get_outputs()[0].shape[-1])

    @property
    def model(self) -> OnnxEncoder:
        """The encoder itself (store.encoders.Encoder): its ``session`` and ``tokenizer`` are the model."""
        return self

    def _run(self, texts: list[str], offsets: bool = False):
        """(token embeddings, attention mask, offsets or None) of one padded batch."""
        encodings = self.tokenizer.encode_batch(texts)
        columns = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
                   "token_type_ids": [e.type_ids for e in encodings]}
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in INPUTS if name in self.wanted}
        tokens = self.session.run(["last_hidden_state"], feed)[0]
        mask = np.asarray(columns["attention_mask"], dtype=np.int64)
        return tokens, mask, np.asarray([e.offsets for e in encodings]) if offsets else None

    def _batches(self, texts: Sequence[str], batch_size: int, offsets: bool) -> Iterator[tuple]:
        """Length-sorted batches, as sentence-transformers makes them: (input indices, tokens, mask, offsets)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for lo in range(0, len(texts), batch_size):
            idx = order[lo : lo + batch_size]
            yield (idx, *self._run([texts[i] for i in idx], offsets))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for idx, tokens, mask, _ in self._batches(texts, batch_size, offsets=False):
            out[idx] = mean_pool(tokens, mask)
        return out

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                          batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text vectors and, from the same run, the vectors of each text's character spans."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        for idx, tokens, mask, offsets in self._batches(texts, batch_size, offsets=True):
            pooled = mean_pool(tokens, mask)
            vectors[idx] = pooled
            for row, i in enumerate(idx):
                real = mask[row].astype(bool)  # without the batch padding
                span_vectors[i] = pool_spans(tokens[row][real], np.asarray(offsets[row][real]), spans[i], pooled[row])
        return vectors, span_vectors

    def query(self, text: str) -> np.ndarray:
        tokens, mask, _ = self._run([text])
        return mean_pool(tokens, mask)[0]


def load_encoder(model_dir: Path, cache_dir: Path, int8: bool, threads: int | None = None) -> OnnxEncoder:
    """An encoder for ``model_dir``: the cached (or freshly exported) fp32 or int8 graph."""
    config = pooling_config(model_dir)
    files = onnx_files(model_dir, cache_dir, INT8_RECIPE if int8 else None)
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    path = files.int8 if int8 else files.fp32
    assert path is not None
    return OnnxEncoder(path, model_dir, config["max_seq_length"], threads, config["dimension"])
