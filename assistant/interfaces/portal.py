"""One server, several collections: the ``Portal`` opens each collection for the callers whose keys allow it.

A caller with no scope on a collection cannot tell it from one that does not exist (404 either way); one
that may read it but not write gets 403 on a write. Without keys the server is open: every caller may do
everything. The portal also holds what the collections share: the keys, the UI's sessions and the metrics.
The FastAPI dependencies of the protected routers (``bearer``, ``CallerOf``, ``PortalOf``) live here too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from assistant.errors import CollectionNotFound, CollectionRefused
from assistant.interfaces.access import Caller, Sessions, identify
from assistant.interfaces.keys import Keyring
from assistant.interfaces.observability import Telemetry
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.shelf import DEFAULT_COLLECTION, CollectionInfo, Shelf


class Portal:
    def __init__(self, default: ServedAssistant, settings: Settings | None = None) -> None:
        self.settings = settings or default.settings
        self.shelf = Shelf(self.settings, default=default.bot)
        serving = self.settings.serving
        self.keyring = Keyring(serving.api_keys, serving.key_file)
        self.sessions = Sessions(self.keyring, serving.session_hours, serving.session_secret)
        self.telemetry = Telemetry(self.open_collections)
        default.telemetry = self.telemetry
        self._served = {DEFAULT_COLLECTION: default}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, served: Portal | ServedAssistant | Assistant) -> Portal:
        if isinstance(served, Portal):
            return served
        return cls(served if isinstance(served, ServedAssistant) else ServedAssistant(served))

    @property
    def default(self) -> ServedAssistant:
        return self._served[DEFAULT_COLLECTION]

    def open_collections(self) -> dict[str, Assistant]:
        with self._lock:
            return {name: served.bot for name, served in self._served.items()}

    def open(self, name: str | None, caller: Caller, write: bool = False, create: bool = False) -> ServedAssistant:
        """The collection for this caller: CollectionNotFound when it may not see it (or it does not exist and
        ``create`` is not asked by a caller that may write it), CollectionRefused when it may read but
        ``write`` is asked."""
        name = name or DEFAULT_COLLECTION
        makeable = create and caller.grant.can_write(name)
        if not caller.grant.can_read(name) or not (self.shelf.exists(name) or makeable):
            raise CollectionNotFound(f"no collection {name!r}")
        if write and not caller.grant.can_write(name):
            raise CollectionRefused(f"this key may read the collection {name!r} but not change it")
        return self.served(name, create=makeable)

    def served(self, name: str, create: bool = False) -> ServedAssistant:
        with self._lock:
            served = self._served.get(name)
            if served is None:
                bot = self.shelf.create(name) if create else self.shelf.get(name)
                served = ServedAssistant(bot, self.settings, self.default.library.write_lock,
                                         telemetry=self.telemetry)
                self._served[name] = served
            return served

    def info(self, name: str, caller: Caller) -> CollectionInfo:
        self.open(name, caller)
        return self.shelf.info(name)

    def readable(self, caller: Caller) -> list[CollectionInfo]:
        """The collections this caller may read, the default first."""
        return [self.shelf.info(n) for n in self.shelf.names() if caller.grant.can_read(n)]

    def caller(self, headers: Mapping[str, str] | None, client_host: str | None) -> Caller:
        """Who made a request (API or UI) and what its key may do; the audit log names ``caller.id``."""
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return identify(lowered, (client_host,) if client_host else None, self.sessions)

    def require_admin(self, caller: Caller) -> None:
        if not caller.grant.admin:
            raise CollectionRefused("this needs an admin key")


# ---------------------------------------------------------------- FastAPI dependencies of the protected routers

bearer = HTTPBearer(auto_error=False, description="Needed when ASSISTANT_API_KEYS or ASSISTANT_KEY_FILE is set.")


def portal_of(request: Request) -> Portal:
    return request.app.state.portal


def caller_of(request: Request) -> Caller:
    return portal_of(request).caller(request.headers, request.client.host if request.client else None)


PortalOf = Annotated[Portal, Depends(portal_of)]
CallerOf = Annotated[Caller, Depends(caller_of)]
