"""Several named collections in one data dir: the default one (the bundled article) and any a user adds.

The default collection is the data dir itself, exactly as a single-collection store always was, so an
existing store opens unchanged. A named collection ``hr`` lives in ``data_dir/collections/hr/`` with
its own manifest, keyword index, uploads and (embedded mode) Chroma folder; on a ``chroma run`` server
its Chroma collections are named with the prefix ``<chroma_prefix>c-hr-``, so one server holds them all.
Each collection is a separate store: nothing one holds can be retrieved through another.

Every collection has a profile (``collection.json`` in its folder): a title, a description, the example
questions the UI and ``/embed`` open with, and its own abstention threshold when one was calibrated for
it. All collections share one embedding model in memory.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import CollectionNotFound, validation_summary
from assistant.records import COLLECTION_NAME, DEFAULT_COLLECTION
from assistant.service import Assistant
from assistant.settings import DEFAULT_CORPUS, Settings
from store.embeddings import Embedder
from store.files import write_json_atomically

log = logging.getLogger(__name__)

_NAME = re.compile(COLLECTION_NAME)
PROFILE_FILE = "collection.json"


class CollectionProfile(BaseModel):
    """What a collection is, in words for its readers, and its own answer calibration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field("Ask the documents", max_length=200)
    description: str = Field("", max_length=1000)
    examples: list[str] = Field(default_factory=list, max_length=8,
                                description="Questions the chat and /embed offer before the first question.")
    min_evidence: float | None = Field(None, ge=-1, le=1, description="This collection's abstention threshold, "
                                       "set by hand (unset: calibrated against the off-topic question bank, "
                                       "ASSISTANT_MIN_EVIDENCE the floor).")


class CollectionInfo(BaseModel):
    """A collection as the CLI and the API list it."""

    name: str
    title: str
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    default: bool = False


def check_name(name: str) -> str:
    """A valid collection name, or ValueError saying what one looks like."""
    if not _NAME.fullmatch(name or ""):
        raise ValueError(f"{name!r} is not a collection name: 1-24 characters, lower-case letters, digits, '-' "
                         "and '_', starting with a letter or digit")
    return name


class Shelf:
    """The collections of one data dir, each opened on first use and kept (one ``Assistant`` per collection)."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 default: Assistant | None = None) -> None:
        self.settings = settings or (default.settings if default else Settings())
        self.root = self.settings.data_dir / "collections"
        self._open: dict[str, Assistant] = {}
        self._lock = threading.Lock()
        if default is not None:
            self._open[DEFAULT_COLLECTION] = default
        self.embedder = embedder or (default.embedder if default else None)

    # ------------------------------------------------------------ which collections exist

    def names(self) -> list[str]:
        """The default collection first, then the named ones in name order."""
        named = sorted(p.parent.name for p in self.root.glob(f"*/{PROFILE_FILE}") if _NAME.fullmatch(p.parent.name))
        return [DEFAULT_COLLECTION, *[n for n in named if n != DEFAULT_COLLECTION]]

    def exists(self, name: str) -> bool:
        if name == DEFAULT_COLLECTION:
            return True
        return bool(_NAME.fullmatch(name)) and (self.root / name / PROFILE_FILE).is_file()

    def folder(self, name: str) -> Path:
        return self.settings.data_dir if name == DEFAULT_COLLECTION else self.root / check_name(name)

    # ------------------------------------------------------------ opening

    def get(self, name: str | None = None) -> Assistant:
        """The assistant over one collection; CollectionNotFound when there is none of that name."""
        name = name or DEFAULT_COLLECTION
        with self._lock:
            bot = self._open.get(name)
            if bot is None:
                if not self.exists(name):
                    raise CollectionNotFound(f"no collection {name!r}; see `assistant collections`")
                bot = self._opened(name)
            return bot

    def create(self, name: str, profile: CollectionProfile | None = None) -> Assistant:
        """The named collection, made (empty, with this profile) when it does not exist yet."""
        check_name(name)
        if not self.exists(name):
            self.save_profile(name, profile or CollectionProfile(title=name))
            log.info("created collection %r in %s", name, self.folder(name))
        return self.get(name)

    def _opened(self, name: str) -> Assistant:
        settings = self.settings_for(name)
        bot = Assistant(settings, embedder=self.embedder, name=name)
        self.embedder = self.embedder or bot.embedder  # the next collection shares the loaded model
        self._open[name] = bot
        return bot

    def settings_for(self, name: str) -> Settings:
        """The settings of one collection: its folder, its Chroma prefix, its calibrated threshold."""
        profile = self.profile(name)
        changes: dict = {}
        if profile.min_evidence is not None:  # set by hand: it is the threshold, no calibration
            changes.update(min_evidence=profile.min_evidence, off_topic_rate=None)
        settings = self.settings.but(**changes) if changes else self.settings
        if name == DEFAULT_COLLECTION:
            return settings
        return settings.model_copy(update={"data_dir": self.folder(name),
                                           "chroma_prefix": f"{self.settings.chroma_prefix}c-{name}-"})

    # ------------------------------------------------------------ profiles

    def profile(self, name: str) -> CollectionProfile:
        path = self.folder(name) / PROFILE_FILE
        if not path.is_file() and name == DEFAULT_COLLECTION:
            corpus = self.settings.default_corpus
            path = (corpus if corpus.is_dir() else DEFAULT_CORPUS) / PROFILE_FILE  # the bundled title, examples
        if not path.is_file():
            return CollectionProfile(title=name)
        try:
            return CollectionProfile.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            detail = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
            log.warning("%s is not a collection profile (%s): using defaults", path, detail)
            return CollectionProfile(title=name)

    def save_profile(self, name: str, profile: CollectionProfile) -> None:
        """Write the profile in one atomic step (a crash leaves the old one or the new one)."""
        write_json_atomically(self.folder(name) / PROFILE_FILE, profile.model_dump(exclude_none=True))
        with self._lock:
            bot = self._open.get(name)
        if bot is not None:  # an open collection answers with its new threshold from the next question on
            bot.policy = self.settings_for(name).answering

    def info(self, name: str) -> CollectionInfo:
        profile = self.profile(name)
        return CollectionInfo(name=name, title=profile.title, description=profile.description,
                              examples=profile.examples, default=name == DEFAULT_COLLECTION)
