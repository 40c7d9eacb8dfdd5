"""All settings in one object: environment variables with the ASSISTANT_ prefix, or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = PROJECT_ROOT / "corpus"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", env_file_encoding="utf-8", extra="forbid"
    )

    data_dir: Path = Field(PROJECT_ROOT / "data", description="Where the store, uploads and logs live.")
    model_path: Path | None = Field(None, description="Sentence-transformers model folder; default: bundled.")
    chroma_url: str | None = Field(None, description="A `chroma run` server URL instead of the embedded store.")
    default_corpus: Path = Field(DEFAULT_CORPUS, description="Ingested on first start when the store is empty.")

    chunk_size: int = Field(800, ge=50, le=4000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(150, ge=0, description="Characters of the previous chunk a chunk repeats.")
    max_file_mb: float = Field(50, gt=0, description="Largest file ingest accepts.")

    k: int = Field(6, ge=1, le=50, description="Chunks handed to the answerer.")
    candidates: int = Field(20, ge=1, le=200, description="Hits taken from each index before fusion.")
    dense_weight: float = Field(1.0, ge=0, description="RRF weight of the dense ranking.")
    keyword_weight: float = Field(1.0, ge=0, description="RRF weight of the BM25 ranking.")
    per_section: int = Field(2, ge=1, description="At most this many chunks of one section in the top k.")

    min_evidence: float = Field(0.40, ge=-1, le=1, description="Abstain below this best sentence similarity.")
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences in an extractive answer.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    max_history_messages: int = Field(20, ge=0, description="Earlier messages kept for follow-ups.")

    @field_validator("chroma_url")
    @classmethod
    def _empty_url_is_none(cls, value: str | None) -> str | None:
        return value or None
