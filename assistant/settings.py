"""All settings in one object: environment variables with the ASSISTANT_ prefix, or a .env file.

The settings nest: ``chunking``, ``loading``, ``retrieval``, ``answering``, ``llm`` and ``serving`` are the
configuration objects the code takes (each defined beside the code it configures, with its defaults and
limits written once). The environment keeps its flat names (``ASSISTANT_K``, ``ASSISTANT_CHUNK_SIZE``,
``ASSISTANT_LLM``, ``ASSISTANT_API_KEYS`` ...); ``FLAT_NAMES`` says where each one goes, and the same flat
names work as keyword arguments (``Settings(k=8, llm="openai")``) and in ``Settings.but``.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from limits import parse as parse_rate
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from assistant.decision import AnswerPolicy
from assistant.llm import LLMConfig
from assistant.retrieval import RetrievalConfig
from assistant.verify import VerifierConfig
from ingest.budget import LoadBudget
from ingest.chunking import ChunkingConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(str(files("corpus")))  # package data: an installed wheel has it too
PREFIX = "ASSISTANT_"


def default_data_dir() -> Path:
    """``data/`` of the checkout when run from one; else ``./data`` (an installed wheel has no checkout)."""
    return PROJECT_ROOT / "data" if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd() / "data"


class ServingConfig(BaseModel):
    """`assistant serve`: the HTTP API, the chat UI and the /embed page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address `assistant serve` listens on.")
    port: int = Field(7860, ge=0, le=65535, description="Port `assistant serve` listens on.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, exclude=True, repr=False,
        description="ASSISTANT_API_KEYS, comma separated: when set, API routes need `Authorization: Bearer <key>`.",
    )
    key_file: Path | None = Field(None, description="ASSISTANT_KEY_FILE: a TOML file of hashed API keys with "
                                  "read, write and admin scopes per collection (docs/deployment.md); used beside "
                                  "ASSISTANT_API_KEYS, whose keys are admin keys.")
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
    session_secret: str | None = Field(None, exclude=True, repr=False, description=(
        "ASSISTANT_SESSION_SECRET: signs UI sessions (with the key's digest), the same in every worker; unset: "
        "derived from ASSISTANT_API_KEYS, else random per process."))
    served_model: str = Field("grounded-assistant", description="Model id of the OpenAI-compatible routes.")
    embed_title: str = Field("Ask the documents", description="Heading of the embeddable /embed page.")
    rate_limit: str | None = Field(None, description="Requests per caller (API key, else client address) on "
                                   "the API and the UI's calls, e.g. 60/minute; over it: 429 with Retry-After.")
    max_concurrent_asks: int | None = Field(None, ge=1, description="Asks one caller may have running at once "
                                            "on the API (a stream counts until it ends); over it: 429.")
    upload_mb_per_day: float | None = Field(None, gt=0, description="Megabytes one caller may upload in a "
                                            "moving day (declared sizes); over it: 429.")
    access_log: bool = Field(True, description="`assistant serve` writes one JSON line per request to stderr.")
    sources_block: bool = Field(True, description="/v1 answers end with a 'Sources' block of numbered quotes, "
                                "for clients that show only text (a request can say otherwise).")
    ratings_file: Path | None = Field(None, description="Where UI ratings go (JSONL); default data_dir/ratings.jsonl.")

    @field_validator("rate_limit")
    @classmethod
    def _readable_rate(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"rate_limit {value!r} is not a rate such as 60/minute") from exc
        return value

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


# flat name (env without the prefix, keyword argument) -> (sub-model, its field)
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "chunk_size": ("chunking", "chunk_size"), "chunk_overlap": ("chunking", "overlap"),
    "load_seconds": ("loading", "seconds"), "load_seconds_per_mb": ("loading", "seconds_per_mb"),
    "load_memory_mb": ("loading", "memory_mb"),
    **{name: ("retrieval", name) for name in RetrievalConfig.model_fields},
    **{name: ("answering", name) for name in AnswerPolicy.model_fields},
    "llm": ("llm", "backend"),
    **{f"llm_{name}": ("llm", name) for name in LLMConfig.model_fields if name != "backend"},
    **{f"verify_{name}": ("verification", name) for name in VerifierConfig.model_fields},
    **{name: ("serving", name) for name in ServingConfig.model_fields},
}


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their sub-models' dicts; sub-model values (dicts or models) merged with them."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in FLAT_NAMES and not isinstance(value, dict | BaseModel):
            group, field = FLAT_NAMES[name]
            out.setdefault(group, {})[field] = value
        elif isinstance(value, BaseModel) and name in SUB_MODELS:
            out[name] = {**dict(value), **out.get(name, {})}
        elif isinstance(value, dict) and name in SUB_MODELS:
            out[name] = {**value, **out.get(name, {})}
        else:
            out[name] = value
    return out


class FlatEnvironment(PydanticBaseSettingsSource):
    """``ASSISTANT_*`` variables from the environment, then the .env file (the environment wins), by flat name.

    A name the settings do not know is an error in the .env file (a typo there would go unseen) and is
    ignored in the environment (which holds other programs' variables too).
    """

    def __init__(self, settings_cls: type[BaseSettings], env_file: str | None) -> None:
        super().__init__(settings_cls)
        self.env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False  # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        known = set(FLAT_NAMES) | set(self.settings_cls.model_fields)
        found: dict[str, Any] = {}
        dotenv = dotenv_values(self.env_file) if self.env_file and Path(self.env_file).is_file() else {}
        for origin in (dotenv, os.environ):
            for key, value in origin.items():
                if not key.upper().startswith(PREFIX) or value is None:
                    continue
                name = key[len(PREFIX):].lower()
                if name in known and (name not in SUB_MODELS or name == "llm"):  # ASSISTANT_LLM: the backend
                    found[name] = value
                elif origin is dotenv:
                    raise ValueError(f"{self.env_file}: unknown setting {key}")
        return nested(found)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=".env", env_file_encoding="utf-8", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the store, uploads and logs live.")
    model_path: Path | None = Field(None, description="Sentence-transformers model folder; default: bundled.")
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="Embedding runtime: onnx (default) or onnx-int8 (ONNX Runtime), torch "
        "(sentence-transformers). torch and onnx give the same vectors (one family: a store built with one opens "
        "with the other); a store refuses a backend of another family.",
    )
    model_cache: Path | None = Field(
        None, description="Where the ONNX backends keep the model exported on first use; default "
        "~/.cache/grounded-assistant/onnx ($XDG_CACHE_HOME), shared by every data folder.",
    )
    chroma_url: str | None = Field(None, description="A `chroma run` server URL instead of the embedded store.")
    chroma_prefix: str = Field(
        "", pattern=r"^([a-zA-Z0-9][a-zA-Z0-9._-]*)?$", max_length=40,
        description="Prefix of the Chroma collection names: several collections on one Chroma server.",
    )
    default_corpus: Path = Field(DEFAULT_CORPUS, description="Ingested on first start when the store is empty.")
    max_file_mb: float = Field(50, gt=0, description="Largest file ingest accepts.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    max_history_messages: int = Field(20, ge=0, description="Earlier messages kept for follow-ups.")

    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    loading: LoadBudget = Field(default_factory=LoadBudget)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    answering: AnswerPolicy = Field(default_factory=AnswerPolicy)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    verification: VerifierConfig = Field(default_factory=VerifierConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)

    def __init__(self, **values: Any) -> None:
        super().__init__(**nested(values))  # before the sources merge: Settings(llm="openai") keeps env's URL

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        env_file = settings_cls.model_config.get("env_file")
        return init_settings, FlatEnvironment(settings_cls, str(env_file) if env_file else None)

    def but(self, **changes: Any) -> Settings:
        """A copy with these settings changed (flat names or sub-models), each changed sub-model validated."""
        update: dict[str, Any] = {}
        for name, value in nested(changes).items():
            current = getattr(self, name)
            update[name] = type(current).model_validate({**dict(current), **value}) if name in SUB_MODELS else value
        return self.model_copy(update=update)

    @field_validator("chroma_url")
    @classmethod
    def _empty_url_is_none(cls, value: str | None) -> str | None:
        return value or None


SUB_MODELS = frozenset({"chunking", "loading", "retrieval", "answering", "llm", "verification", "serving"})
