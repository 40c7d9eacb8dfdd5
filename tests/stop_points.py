"""For crash tests: a child process that stops dead at one chosen call, so a kill -9 lands exactly there.

``StopPoint("chunks:2")`` stops (prints STOPPED, then sleeps) at the 2nd call counted as "chunks";
``before(owner, method, name)`` counts every call of ``owner.method`` under ``name``.
"""

from __future__ import annotations

import time


class StopPoint:
    def __init__(self, point: str) -> None:
        step, _, nth = point.partition(":")
        self.step, self.nth = step, int(nth)
        self.calls: dict[str, int] = {}

    def reached(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name == self.step and self.calls[name] == self.nth:
            print("STOPPED", flush=True)
            time.sleep(600)

    def before(self, owner: object, method: str, name: str) -> None:
        original = getattr(owner, method)

        def wrapped(*args, **kwargs):
            self.reached(name)
            return original(*args, **kwargs)

        setattr(owner, method, wrapped)
