"""All settings in one object: environment variables with the ASSISTANT_ prefix, or a .env file."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(str(files("corpus")))  # package data: an installed wheel has it too


def default_data_dir() -> Path:
    """``data/`` of the checkout when run from one; else ``./data`` (an installed wheel has no checkout)."""
    return PROJECT_ROOT / "data" if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd() / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", env_file_encoding="utf-8", extra="forbid"
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the store, uploads and logs live.")
    model_path: Path | None = Field(None, description="Sentence-transformers model folder; default: bundled.")
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="Embedding runtime: torch (sentence-transformers), onnx or onnx-int8 (ONNX Runtime). "
        "A store keeps the backend it was embedded with and refuses another one.",
    )
    model_cache: Path | None = Field(
        None, description="Where the ONNX backends keep the model exported on first use; default data_dir/models.",
    )
    chroma_url: str | None = Field(None, description="A `chroma run` server URL instead of the embedded store.")
    chroma_prefix: str = Field(
        "", pattern=r"^([a-zA-Z0-9][a-zA-Z0-9._-]*)?$", max_length=40,
        description="Prefix of the Chroma collection names: several collections on one Chroma server.",
    )
    default_corpus: Path = Field(DEFAULT_CORPUS, description="Ingested on first start when the store is empty.")

    chunk_size: int = Field(1200, ge=50, le=4000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(300, ge=0, description="Characters of the previous chunk a chunk repeats.")
    max_file_mb: float = Field(50, gt=0, description="Largest file ingest accepts.")
    load_seconds: float = Field(10, gt=0, description="Time budget to parse one PDF, DOCX or HTML file ...")
    load_seconds_per_mb: float = Field(5, ge=0, description="... plus this many seconds per MB of the file.")
    load_memory_mb: int = Field(2048, ge=256, description="Memory budget of the process that parses one file.")

    k: int = Field(6, ge=1, le=50, description="Chunks handed to the answerer.")
    candidates: int = Field(20, ge=1, le=200, description="Hits taken from each index before fusion.")
    dense_weight: float = Field(1.0, ge=0, description="RRF weight of the chunk-vector ranking.")
    sentence_weight: float = Field(1.0, ge=0, description="RRF weight of the best-sentence-vector ranking.")
    keyword_weight: float = Field(1.0, ge=0, description="RRF weight of the BM25 ranking.")
    per_section: int = Field(2, ge=1, description="At most this many chunks of one section in the top k.")

    min_evidence: float = Field(0.22, ge=-1, le=1, description="Abstain below this best sentence similarity.")
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences in an extractive answer.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    max_history_messages: int = Field(20, ge=0, description="Earlier messages kept for follow-ups.")

    # Serving (`assistant serve`): the HTTP API, the chat UI and the /embed page.
    host: str = Field("127.0.0.1", description="Address `assistant serve` listens on.")
    port: int = Field(7860, ge=0, le=65535, description="Port `assistant serve` listens on.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, exclude=True, repr=False,
        description="ASSISTANT_API_KEYS, comma separated: when set, API routes need `Authorization: Bearer <key>`.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser, comma separated."
    )
    max_upload_mb: float = Field(20, gt=0, description="Largest file the upload routes accept.")
    max_request_kb: int = Field(256, ge=1, description="Largest JSON request body the API accepts.")
    max_request_messages: int = Field(100, ge=0, description="Longest history (messages) a request may carry.")
    ui: Literal["full", "read-only", "off"] = Field(
        "full", description="The chat UI at /: full (ask and manage sources), read-only (ask only) or off "
        "(API and /embed only).",
    )
    session_hours: float = Field(12, gt=0, description="How long a UI sign-in with an API key lasts.")
    served_model: str = Field("grounded-assistant", description="Model id of the OpenAI-compatible routes.")
    embed_title: str = Field("Ask the documents", description="Heading of the embeddable /embed page.")
    ratings_file: Path | None = Field(None, description="Where UI ratings go (JSONL); default data_dir/ratings.jsonl.")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    llm: str = Field("extractive", description="Answer backend: extractive (no model), openai or llamacpp.")
    llm_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible server (openai backend).")
    llm_model: str = Field("default", description="Model name sent to the OpenAI-compatible server.")
    llm_api_key: SecretStr | None = Field(None, description="Key for the OpenAI-compatible server (env only).")
    llm_model_path: Path | None = Field(None, description="GGUF file (llamacpp backend); default: bundled SmolLM2.")
    llm_passages: int = Field(4, ge=1, le=20, description="Best passages put in the model's prompt.")
    llm_max_tokens: int = Field(200, ge=16, le=4096, description="Longest generated answer, in tokens.")
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_timeout: float = Field(60, gt=0, description="Seconds to wait for the language model server.")

    @field_validator("llm")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in ("extractive", "openai", "llamacpp"):
            raise ValueError(f"unknown backend {value!r}; choose extractive, openai or llamacpp")
        return value

    @field_validator("chroma_url")
    @classmethod
    def _empty_url_is_none(cls, value: str | None) -> str | None:
        return value or None
