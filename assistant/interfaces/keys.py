"""API keys and what each may do, per collection: read (ask, list), write (ingest, remove), or admin (every
collection, /metrics).

Two sources, used together:

- ``ASSISTANT_API_KEYS``: plain keys, comma separated. Each is an admin key (a one-team server, as before).
- ``ASSISTANT_KEY_FILE``: a TOML file of hashed keys with scopes; `assistant keys new` writes an entry and
  prints the key once::

      [keys.portal-hr]                # the key's id: what logs and metrics name, never the key
      sha256 = "9f86d0…"              # sha256 (hex) of the key
      read = ["hr", "default"]        # collections it may ask and list ("*": all)
      write = ["hr"]                  # collections it may add to and remove from (write implies read)
      admin = false                   # every collection, and /metrics

Only digests are kept: the file is no secret a thief can use, as long as keys are long and random (the
ones `assistant keys new` makes are 256-bit). The file is read again when it changes, so a removed key
stops working without a restart; a broken file after a change keeps the keys it held before, and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import validation_summary

log = logging.getLogger(__name__)

KEY_ID = r"^[A-Za-z0-9_-]{1,64}$"
RECHECK_SECONDS = 1.0  # how often the key file's modification time is looked at


@dataclass(frozen=True, slots=True)
class Grant:
    """What a caller may do to which collections."""

    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    admin: bool = False

    def can_write(self, collection: str) -> bool:
        return self.admin or "*" in self.write or collection in self.write

    def can_read(self, collection: str) -> bool:
        """Also whether the caller may know the collection exists (no read: it is "not found")."""
        return self.can_write(collection) or "*" in self.read or collection in self.read


EVERYTHING = Grant(admin=True)
NOTHING = Grant()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    digest: bytes = field(repr=False)  # sha256 of the key
    grant: Grant


class KeyFileError(ValueError):
    """The key file cannot be read or is not a key file; the message names the file and the problem."""


class KeyEntry(BaseModel):
    """One ``[keys.<id>]`` table of the key file."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    admin: bool = False


class KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: dict[str, KeyEntry] = Field(default_factory=dict)


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def plain_key_id(key: str) -> str:
    """The id of an ``ASSISTANT_API_KEYS`` key: a fingerprint that cannot be turned back into the key."""
    return hashlib.sha256(b"assistant-key:" + key.encode()).hexdigest()[:16]


def load_key_file(path: Path) -> list[ApiKey]:
    """The keys of a key file; KeyFileError saying what is wrong with it."""
    import re

    try:
        parsed = KeyFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(f"the key file {path} is not TOML: {exc}") from exc
    except ValidationError as exc:
        raise KeyFileError(f"the key file {path} is not a key file: {validation_summary(exc)}") from exc
    keys = []
    for key_id, entry in parsed.keys.items():
        if not re.match(KEY_ID, key_id):
            raise KeyFileError(f"the key file {path}: {key_id!r} is not a key id (letters, digits, '-', '_')")
        grant = Grant(frozenset(entry.read), frozenset(entry.write), entry.admin)
        keys.append(ApiKey(key_id, bytes.fromhex(entry.sha256), grant))
    return keys


class Keyring:
    """Every key the server accepts, from the environment and the key file (re-read when it changes)."""

    def __init__(self, plain_keys: Sequence[str] = (), key_file: Path | None = None) -> None:
        self.plain = [ApiKey(plain_key_id(k), digest_of(k), EVERYTHING) for k in plain_keys]
        # secret material only the environment holds (the key file holds digests): signs UI sessions
        self.plain_secret = hashlib.sha256(b"assistant-sessions:" + "\n".join(sorted(plain_keys)).encode()).digest() \
            if plain_keys else None
        self.key_file = key_file
        self._from_file: list[ApiKey] = []
        self._stamp: object = None
        self._checked = 0.0
        self._lock = threading.Lock()
        if key_file is not None:
            self._from_file = load_key_file(key_file)  # a broken file at start is an error, not a warning
            self._stamp = _stamp(key_file)

    def __bool__(self) -> bool:
        """Whether the server needs keys at all (any configured, or a key file given, even an empty one)."""
        return bool(self.plain) or self.key_file is not None

    def keys(self) -> list[ApiKey]:
        self._reload_if_changed()
        return [*self.plain, *self._from_file]

    def match(self, candidate: str) -> ApiKey | None:
        """The key this token is, compared in constant time against every key (no early exit)."""
        given = digest_of(candidate)
        found = None
        for key in self.keys():
            if hmac.compare_digest(given, key.digest) and candidate:
                found = key
        return found

    def by_id(self, key_id: str) -> ApiKey | None:
        return next((k for k in self.keys() if k.id == key_id), None)

    def _reload_if_changed(self) -> None:
        if self.key_file is None or time.monotonic() - self._checked < RECHECK_SECONDS:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self.key_file)
            if stamp == self._stamp:
                return
            try:
                self._from_file = load_key_file(self.key_file)
            except KeyFileError as exc:
                log.error("%s; keeping the %d keys read before", exc, len(self._from_file))
            self._stamp = stamp


def _stamp(path: Path) -> object:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return "ga-" + secrets.token_urlsafe(32)


def key_entry(key_id: str, key: str, read: Sequence[str], write: Sequence[str], admin: bool) -> str:
    """The TOML table for one key (ids and collection names are plain ASCII, so no escaping is needed)."""
    quoted = lambda names: "[" + ", ".join(f'"{n}"' for n in names) + "]"  # noqa: E731
    return (f"\n[keys.{key_id}]\nsha256 = \"{digest_of(key).hex()}\"\nread = {quoted(read)}\n"
            f"write = {quoted(write)}\nadmin = {'true' if admin else 'false'}\n")
