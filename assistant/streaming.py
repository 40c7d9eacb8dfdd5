"""An answer stream that runs to its end in a thread of its own, whoever reads it.

A client that goes away mid-stream (a closed browser tab, a dropped SSE connection) must not cut an
answer short halfway, so the events are produced in a thread and handed over through a queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

from assistant.errors import is_expected
from assistant.records import ErrorEvent, StreamEvent

log = logging.getLogger(__name__)


def detached(events: Iterator[StreamEvent], label: str = "") -> Iterator[StreamEvent]:
    """The same events, produced in a daemon thread; a failure arrives as one ErrorEvent at the end."""
    handed: queue.Queue[StreamEvent | None] = queue.Queue()

    def pump() -> None:
        try:
            for event in events:
                handed.put(event)
        except Exception as exc:  # handed to the consumer, which shows it as an error event or message
            bug = not is_expected(exc)
            log.log(logging.ERROR if bug else logging.WARNING, "answering %r failed: %s", label, exc, exc_info=bug)
            handed.put(ErrorEvent(exc))
        finally:
            handed.put(None)

    threading.Thread(target=pump, name="ask-stream", daemon=True).start()
    return iter(handed.get, None)
