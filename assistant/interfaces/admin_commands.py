"""`assistant collections` (list them, set a collection's title and examples) and `assistant keys new`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assistant.interfaces.cli_support import DataDir, _fail, out, visible

collections_app = typer.Typer(help="The named collections of the data dir.", no_args_is_help=False,
                              invoke_without_command=True)
keys_app = typer.Typer(help="API keys with scopes per collection (ASSISTANT_KEY_FILE).", no_args_is_help=True)


def _shelf(data_dir: Path | None):
    from pydantic import ValidationError

    from assistant.settings import Settings
    from assistant.shelf import Shelf

    try:
        return Shelf(Settings(**({"data_dir": data_dir} if data_dir else {})))
    except ValidationError as exc:
        raise _fail(f"invalid settings: {exc}", 2) from exc


@collections_app.callback()
def list_collections(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List the collections: name, title, and how to ask one (`--collection NAME`)."""
    if ctx.invoked_subcommand is not None:
        return
    shelf = _shelf(data_dir)
    for name in shelf.names():
        info = shelf.info(name)
        out.print(f"{name}\t{visible(info.title)}\t{len(info.examples)} examples", highlight=False)


@collections_app.command("set")
def set_profile(
    name: Annotated[str, typer.Argument(help="The collection (made, empty, if it does not exist).")],
    title: Annotated[str | None, typer.Option(help="Its title (the UI and /embed show it).")] = None,
    description: Annotated[str | None, typer.Option(help="One sentence on what its documents are.")] = None,
    example: Annotated[list[str] | None, typer.Option(
        help="An example question (repeat the option; replaces the earlier ones).")] = None,
    min_evidence: Annotated[float | None, typer.Option(
        help="Its own abstention threshold (default: ASSISTANT_MIN_EVIDENCE).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Make a collection, or change its title, description, example questions or abstention threshold."""
    from pydantic import ValidationError

    from assistant.errors import validation_summary
    from assistant.shelf import check_name

    shelf = _shelf(data_dir)
    try:
        check_name(name)
        current = shelf.profile(name)
        changes = {"title": title, "description": description, "examples": example, "min_evidence": min_evidence}
        given = {k: v for k, v in changes.items() if v is not None}
        profile = current.model_validate({**current.model_dump(), **given})
    except ValidationError as exc:
        raise _fail(f"not a collection profile: {validation_summary(exc)}", 2) from exc
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    shelf.save_profile(name, profile)
    out.print(f"{name}\t{visible(profile.title)}\t{len(profile.examples)} examples", highlight=False)


@keys_app.command("new")
def new_key(
    key_id: Annotated[str, typer.Argument(help="The key's id: what logs and metrics name (letters, digits, - _).")],
    key_file: Annotated[Path, typer.Option("--file", help="The key file to add it to (made if missing); serve "
                                           "with ASSISTANT_KEY_FILE pointing at it.")],
    read: Annotated[list[str] | None, typer.Option(help="A collection it may ask (repeat; '*' for all).")] = None,
    write: Annotated[list[str] | None, typer.Option(help="A collection it may add to and remove from.")] = None,
    admin: Annotated[bool, typer.Option(help="Every collection, and /metrics.")] = False,
) -> None:
    """Make a key: its hash goes into the key file, the key itself is printed once (store it now)."""
    import re

    from assistant.interfaces.keys import KEY_ID, KeyFileError, key_entry, load_key_file, new_key

    if not re.match(KEY_ID, key_id):
        raise _fail(f"{key_id!r} is not a key id: letters, digits, '-' and '_'", 2)
    if not (read or write or admin):
        raise _fail("give the key a scope: --read NAME, --write NAME or --admin", 2)
    from assistant.shelf import check_name

    try:
        [check_name(n) for n in [*(read or []), *(write or [])] if n != "*"]
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    try:
        existing = load_key_file(key_file) if key_file.exists() else []
    except KeyFileError as exc:
        raise _fail(str(exc), 2) from exc
    if any(k.id == key_id for k in existing):
        raise _fail(f"the key file {key_file} already has a key {key_id!r}", 2)
    key = new_key()
    with key_file.open("a", encoding="utf-8") as handle:
        handle.write(key_entry(key_id, key, read or [], write or [], admin))
    key_file.chmod(0o600)
    out.print(key, highlight=False)
