"""Embedding backends (store/onnx_encoder.py, store/encoders.py): vectors, the export cache, the tokenizer,
what a cold start imports, and the store's backend guard.

The session's ``embedder`` is the default (onnx, exported into the per-user cache); ``torch_embedder`` is the
sentence-transformers reference. The int8 files are exported once into a module-scoped cache
(``model_cache``); the export (~5 s) and its imports make every test using it slow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from assistant.service import Assistant
from assistant.settings import Settings
from ingest.chunking import chunk_document
from ingest.loaders import load
from store import onnx_encoder
from store.chroma_index import BACKEND_KEY, CHUNKS, SENTENCES, EmbeddingMismatchError, embedding_input
from store.embeddings import (
    DEFAULT_BACKEND,
    Embedder,
    ModelLoadError,
    bundled_model_path,
    default_model_cache,
    family_of,
)
from store.encoders import Encoder, TorchEncoder
from tests.conftest import CHROMA_URL, CORPUS, ROOT

F16 = "How many F-16 fighter jets and modernization kits did Turkey request?"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def int8(model_cache: Path) -> Embedder:
    return Embedder(backend="onnx-int8", cache_dir=model_cache)


@pytest.fixture(scope="module")
def article_inputs() -> tuple[list[str], list[list[tuple[int, int]]]]:
    settings = Settings()
    chunks = chunk_document(load(CORPUS), settings.chunking)
    inputs = [embedding_input(c) for c in chunks]
    return [text for text, _ in inputs], [spans for _, spans in inputs]


def _unit(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-4))


def int8_settings(data_dir: Path, model_cache: Path, **overrides) -> Settings:
    return Settings(data_dir=data_dir, embedding_backend="onnx-int8", model_cache=model_cache, **overrides)


# ---------------------------------------------------------------------------- vectors


@pytest.mark.slow
def test_int8_vectors_are_unit_length_and_agree_with_torch(int8, torch_embedder, article_inputs, dev_questions):
    embedder = torch_embedder
    texts, spans = article_inputs
    assert int8.backend == "onnx-int8" and embedder.backend == "torch"
    assert (int8.dimension, int8.max_tokens, int8.batch_size) == (embedder.dimension, embedder.max_tokens, 32)

    vectors, sentences = int8.encode_with_spans(texts, spans)
    ref_vectors, ref_sentences = embedder.encode_with_spans(texts, spans)
    assert vectors.shape == ref_vectors.shape == (len(texts), embedder.dimension) and vectors.dtype == np.float32
    assert _unit(vectors) and np.min(np.sum(vectors * ref_vectors, axis=1)) > 0.95
    for text_spans, mine, ref in zip(spans, sentences, ref_sentences, strict=True):
        assert mine.shape == ref.shape == (len(text_spans), embedder.dimension)
        assert _unit(mine) and np.min(np.sum(mine * ref, axis=1)) > 0.95
    # same batches, same vectors (int8 activations are quantized per batch: other batches move them a little)
    assert np.allclose(int8.encode(texts), vectors, atol=1e-6)
    assert np.allclose(int8.embed_documents(texts), vectors, atol=1e-6)

    questions = [q.question for q in dev_questions]
    queries = np.stack([int8.query_vector(q) for q in questions])
    ref_queries = np.stack([embedder.query_vector(q) for q in questions])
    assert queries.shape == (len(questions), embedder.dimension) and _unit(queries)
    assert np.min(np.sum(queries * ref_queries, axis=1)) > 0.95
    assert int8.query_vector(questions[0]) is int8.query_vector(questions[0])  # cached
    assert np.allclose(int8.embed_query(questions[0]), queries[0])
    assert int8.encode([]).shape == (0, embedder.dimension)
    assert int8.encode_with_spans([], [])[1] == []


@pytest.mark.slow
def test_sentence_vectors_come_from_the_same_run(int8, article_inputs, monkeypatch: pytest.MonkeyPatch):
    texts, spans = article_inputs
    runs = []
    session_run = int8.model.session.run
    monkeypatch.setattr(int8.model.session, "run", lambda *a, **kw: runs.append(1) or session_run(*a, **kw))
    _, sentences = int8.encode_with_spans(texts, spans)
    assert len(runs) == -(-len(texts) // int8.batch_size)  # one run per batch: no second pass for sentences
    assert [m.shape[0] for m in sentences] == [len(s) for s in spans]

    # a sentence vector is the mean of the chunk's own token embeddings over the sentence's characters
    _, (matrix,) = int8.encode_with_spans(texts[:1], spans[:1])
    tokens, _, offsets = int8.model._run(texts[:1], offsets=True)
    start, end = spans[0][0]
    inside = (offsets[0, :, 1] > offsets[0, :, 0]) & (offsets[0, :, 0] < end) & (offsets[0, :, 1] > start)
    pooled = tokens[0][inside].mean(axis=0)
    assert np.allclose(matrix[0], pooled / np.linalg.norm(pooled), atol=1e-5)
    alone = int8.encode([texts[0][start:end]])[0]  # the sentence encoded on its own: not the same vector
    assert float(alone @ matrix[0]) < 0.999


@pytest.mark.slow
def test_both_backends_are_encoders_behind_the_embedder(int8, torch_embedder, embedder):
    from sentence_transformers import SentenceTransformer

    assert embedder.backend == DEFAULT_BACKEND == Settings().embedding_backend == "onnx"
    assert isinstance(int8.encoder, onnx_encoder.OnnxEncoder) and isinstance(torch_embedder.encoder, TorchEncoder)
    assert isinstance(embedder.encoder, onnx_encoder.OnnxEncoder)
    assert isinstance(int8.encoder, Encoder) and isinstance(torch_embedder.encoder, Encoder)
    assert int8.model is int8.encoder and isinstance(torch_embedder.model, SentenceTransformer)  # what benches time


@pytest.mark.slow
def test_default_vectors_agree_with_torch(embedder, torch_embedder, article_inputs, dev_questions):
    """The default (onnx) and torch are one family: the same vectors, sentence vectors and query vectors."""
    texts, spans = article_inputs
    vectors, sentences = embedder.encode_with_spans(texts, spans)
    ref_vectors, ref_sentences = torch_embedder.encode_with_spans(texts, spans)
    assert np.min(np.sum(vectors * ref_vectors, axis=1)) > 1 - 1e-5
    for mine, ref in zip(sentences, ref_sentences, strict=True):
        assert mine.shape == ref.shape and np.min(np.sum(mine * ref, axis=1)) > 1 - 1e-5
    queries = [q.question for q in dev_questions]
    assert min(float(embedder.query_vector(q) @ torch_embedder.query_vector(q)) for q in queries) > 1 - 1e-5


def test_tokenizer_gives_the_transformers_ids_and_offsets(embedder, article_inputs):
    """The ``tokenizers`` tokenizer of the ONNX encoder = the transformers fast tokenizer sentence-transformers
    uses: ids, masks and offsets, with truncation at max_seq_length and padding to the longest of a batch."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)
    texts = [*article_inputs[0][:8], "Çoşkun’s “F-16s” — naïve café", "short", "word " * 400, ""]
    want = reference(texts, padding=True, truncation=True, max_length=embedder.max_tokens,
                     return_offsets_mapping=True)
    got = embedder.model.tokenizer.encode_batch(texts)
    assert [e.ids for e in got] == want["input_ids"] and [e.attention_mask for e in got] == want["attention_mask"]
    assert [e.type_ids for e in got] == want["token_type_ids"]
    assert [[tuple(o) for o in e.offsets] for e in got] == [[tuple(o) for o in row] for row in want["offset_mapping"]]
    assert max(len(e.ids) for e in got) == embedder.max_tokens == 256  # truncated, and the file's 128 is not used


def test_onnx_encoder_imports_neither_torch_nor_transformers(embedder):
    """Once exported, the default backend loads and encodes without torch or transformers: a cold CLI call
    does not pay for them (bench/cold_start.py)."""
    heavy = ("torch", "transformers", "sentence_transformers")
    code = ("import sys; from store.embeddings import Embedder; e = Embedder(); e.query_vector('hello'); "
            f"print(e.backend, sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnx", "[]"]


def test_the_onnx_encoder_does_not_import_the_embedder():
    """store.onnx_encoder depends on store.encoders and store.pooling only: no import circle with embeddings."""
    code = "import sys, store.onnx_encoder; sys.exit('store.embeddings' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


@pytest.mark.slow
def test_export_is_cached_and_reused(int8, model_cache: Path, monkeypatch: pytest.MonkeyPatch):
    folders = [p for p in model_cache.iterdir() if p.is_dir()]
    assert len(folders) == 1  # one key: model + library versions + recipe
    names = sorted(p.name for p in folders[0].iterdir())
    assert names[0] == "export.json" and "model-fp32.onnx" in names
    assert any(n.startswith("model-int8-") for n in names) and not any(".tmp" in n for n in names)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_encoder, "export_onnx", no_export)
    monkeypatch.setattr(onnx_encoder, "quantize_int8", no_export)
    again = Embedder(backend="onnx-int8", cache_dir=model_cache)
    assert np.allclose(again.query_vector("Who wrote the article?"), int8.query_vector("Who wrote the article?"))


def test_export_failure_is_a_clear_model_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import torch

    def crash(model, args, path, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(torch.onnx, "export", crash)
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match=r"cannot export the embedding model .* to ONNX .*disk on fire"):
        Embedder(backend="onnx", cache_dir=cache)
    made = [p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert made == ["weights-sha256.json"]  # the weights' hash, remembered; no half-made model

    monkeypatch.setitem(sys.modules, "onnx", None)  # the package is missing
    with pytest.raises(ModelLoadError, match=r"need the onnx and onnxruntime packages"):
        Embedder(backend="onnx-int8", cache_dir=cache)


def test_backend_settings(data_dir: Path, torch_embedder, monkeypatch: pytest.MonkeyPatch):
    assert Settings().embedding_backend == "onnx"
    monkeypatch.setenv("ASSISTANT_EMBEDDING_BACKEND", "onnx-int8")
    monkeypatch.setenv("ASSISTANT_MODEL_CACHE", "/somewhere")
    assert (Settings().embedding_backend, Settings().model_cache) == ("onnx-int8", Path("/somewhere"))
    with pytest.raises(ValidationError):
        Settings(embedding_backend="tensorrt")
    with pytest.raises(ValueError, match="unknown embedding backend"):
        Embedder(backend="tensorrt")
    with pytest.raises(ValueError, match="'torch' backend, the settings say 'onnx-int8'"):
        Assistant(Settings(data_dir=data_dir), embedder=torch_embedder)


# ---------------------------------------------------------------------------- the store's backend guard


@pytest.mark.slow
def test_store_refuses_another_backend(data_dir: Path, make_assistant, int8, model_cache: Path):
    default_bot = make_assistant()
    default_bot.ingest([CORPUS])
    with pytest.raises(EmbeddingMismatchError) as refused:
        Assistant(int8_settings(data_dir, model_cache), embedder=int8)
    message = str(refused.value)
    assert "'onnx' embedding backend, not 'onnx-int8'" in message
    assert (str(data_dir) in message or CHROMA_URL) and "assistant export" in message and "import" in message
    assert refused.value.stored == "onnx" and refused.value.wanted == "onnx-int8"
    assert make_assistant().ask(F16).citations  # the store itself is untouched

    # and the other way round
    other = data_dir.parent / "int8-data"
    int8_bot = Assistant(int8_settings(other, model_cache, chroma_prefix=_other_prefix()), embedder=int8)
    int8_bot.ingest([CORPUS])
    assert int8_bot.collection.dense.chunks.metadata[BACKEND_KEY] == "onnx-int8"
    with pytest.raises(EmbeddingMismatchError, match="'onnx-int8' embedding backend, not 'onnx'"):
        make_assistant(data_dir=other, chroma_prefix=_other_prefix())
    assert Assistant(int8_settings(other, model_cache, chroma_prefix=_other_prefix()), embedder=int8).sources()


@pytest.mark.slow
def test_torch_and_onnx_are_one_family_a_store_of_one_opens_with_the_other(data_dir: Path, make_assistant,
                                                                           torch_embedder):
    """A store built before onnx became the default (by torch) opens with it, and gives the same answers."""
    torch_bot = Assistant(Settings(data_dir=data_dir, embedding_backend="torch"), embedder=torch_embedder)
    torch_bot.ingest([CORPUS])
    by_torch = torch_bot.ask(F16)
    onnx_bot = make_assistant()
    by_onnx = onnx_bot.ask(F16)
    assert [(c.source, c.start, c.end) for c in by_onnx.citations] == [(c.source, c.start, c.end)
                                                                      for c in by_torch.citations]
    assert by_onnx.answer == by_torch.answer and by_onnx.citations
    assert onnx_bot.collection.dense.chunks.metadata[BACKEND_KEY] == "torch"  # the store keeps its maker's name
    assert family_of("torch") == family_of("onnx") != family_of("onnx-int8")


def _other_prefix() -> str:
    import os

    return f"{os.environ.get('ASSISTANT_CHROMA_PREFIX', '')}i8-"


def test_store_made_before_the_guard_counts_as_torch(data_dir: Path, embedder):
    """Collections created without the backend in their metadata hold torch vectors."""
    from types import SimpleNamespace

    from store.chroma_index import ChromaIndex, open_chroma_client

    int8 = SimpleNamespace(backend="onnx-int8")  # opening checks the backend before anything is embedded

    client = open_chroma_client(data_dir / "chroma", CHROMA_URL)
    prefix = Settings().chroma_prefix
    for name in (CHUNKS, SENTENCES):
        client.get_or_create_collection(prefix + name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    assert ChromaIndex(client, embedder, prefix=prefix).chunks.metadata.get(BACKEND_KEY) is None  # opens as torch
    with pytest.raises(EmbeddingMismatchError, match="'torch' embedding backend, not 'onnx-int8'"):
        ChromaIndex(client, int8, prefix=prefix)


@pytest.mark.slow
def test_cli_says_why_it_refuses(data_dir: Path, make_assistant, model_cache: Path, monkeypatch: pytest.MonkeyPatch):
    from assistant.interfaces import cli

    make_assistant().ingest([CORPUS])
    monkeypatch.setenv("ASSISTANT_EMBEDDING_BACKEND", "onnx-int8")
    monkeypatch.setenv("ASSISTANT_MODEL_CACHE", str(model_cache))
    result = CliRunner().invoke(cli.app, ["ask", F16])
    assert result.exit_code == 1 and "Traceback" not in result.output
    shown = " ".join(result.output.split())
    assert "error:" in shown and "embedded with the 'onnx' embedding backend, not 'onnx-int8'" in shown


# ---------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_int8_assistant_answers(data_dir: Path, int8, model_cache: Path):
    bot = Assistant(int8_settings(data_dir, model_cache), embedder=int8)
    bot.ingest([CORPUS])
    answer = bot.ask(F16)
    assert not answer.abstained and "forty" in answer.answer
    source = CORPUS.read_text(encoding="utf-8")
    assert answer.citations and all(source[c.start : c.end] == c.quote for c in answer.citations)
    assert bot.ask("Who won Turkey's 2023 presidential election?").abstained


@pytest.mark.slow
def test_assistant_builds_its_own_onnx_embedder(data_dir: Path, model_cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    bot = Assistant(int8_settings(data_dir, model_cache))
    assert bot.embedder.backend == "onnx-int8" and bot.embedder.dimension == 384
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default cache: per user, not per data dir
    default = Assistant(Settings(data_dir=data_dir.parent / "default-cache", chroma_prefix=_other_prefix()))
    assert default.embedder.backend == "onnx" and default_model_cache() == tmp_path / "xdg/grounded-assistant/onnx"
    assert list(default_model_cache().glob("*/model-fp32.onnx"))
    assert not (data_dir.parent / "default-cache" / "models").exists()


def test_an_unusable_model_cache_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"cannot prepare the ONNX model cache .*ASSISTANT_MODEL_CACHE"):
        Embedder(backend="onnx", cache_dir=blocker / "cache")
