"""The chat UI's entry point at the top of the tree: ``python ui.py`` serves the web app like ``assistant serve``.

The UI itself lives with the other faces in ``assistant/interfaces/`` (``chat_ui.py``; ``web.py`` mounts it
on the HTTP API). This file only starts it, so nothing in the packages imports upward.
"""

from __future__ import annotations

from assistant.interfaces.web import create_web_app

__all__ = ["create_web_app"]

if __name__ == "__main__":
    import sys

    from assistant.interfaces.cli import app

    app(["serve", *sys.argv[1:]])  # python ui.py --port 8000: the options of `assistant serve`
