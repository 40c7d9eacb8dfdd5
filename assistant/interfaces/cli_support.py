"""What every `assistant` command shares: the consoles, readable failures, building the assistant."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True)  # no hard wraps: output is read by scripts too
err = Console(stderr=True)
log = logging.getLogger("assistant")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Store location (default: ASSISTANT_DATA_DIR or ./data).")
]
CollectionName = Annotated[
    str | None, typer.Option("--collection", "-c", help="A named collection of the data dir (default: the "
                             "default collection); see `assistant collections`.")
]


# Control characters (ESC sequences recolour, clear or retitle a terminal) and bidi overrides (they reorder
# what is shown) from documents or file names are printed as visible escapes, never sent to the terminal.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class _VisibleFormatter(logging.Formatter):
    """Log lines name files and quote documents too: their control characters are shown, not sent."""

    def format(self, record: logging.LogRecord) -> str:
        return _UNPRINTABLE.sub(_shown, super().format(record))


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(_VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("httpx", "chromadb", "sentence_transformers", "bm25s", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def visible(text: str) -> str:
    """``text`` for a terminal: rich markup escaped, control and bidi characters shown as ``\\x1b``/``\\u202e``."""
    return escape(_UNPRINTABLE.sub(_shown, text))


def _shown(match: re.Match[str]) -> str:
    return ascii(match.group())[1:-1]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {visible(message)}", highlight=False)
    return typer.Exit(code)


def _assistant(data_dir: Path | None, collection: str | None = None, create: bool = False, **overrides):
    """The assistant over one collection (made first with ``create``), errors as readable messages."""
    from assistant.errors import CollectionNotFound
    from assistant.settings import Settings
    from assistant.shelf import Shelf

    if data_dir:
        overrides["data_dir"] = data_dir
    try:
        shelf = Shelf(Settings(**overrides))
        return shelf.create(collection) if create and collection else shelf.get(collection)
    except ValidationError as exc:
        raise _fail(f"invalid settings: {exc}", 2) from exc
    except (CollectionNotFound, ValueError) as exc:  # ValueError: not a collection name
        raise _fail(str(exc), 2) from exc
    except RuntimeError as exc:  # ModelLoadError, StoreUnavailableError
        raise _fail(str(exc)) from exc


def _fill_empty_store(bot, console: Console | None = None) -> None:
    """The one bootstrap: an empty store gets the bundled collection (first start), said on ``console``."""
    report = bot.ensure_default_collection()
    if report and console:
        console.print(f"Ingested the default collection: {report.summary()}", highlight=False)


