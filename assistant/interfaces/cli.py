"""The `assistant` command: ingest, ask, chat, sources, remove, doctor, export, import, eval, serve, collections,
keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from assistant.interfaces.admin_commands import collections_app, keys_app
from assistant.interfaces.cli_support import (
    CollectionName,
    DataDir,
    _assistant,
    _fail,
    _fill_empty_store,
    _setup_logging,
    err,
    out,
    visible,
)
from assistant.interfaces.serve_command import serve
from assistant.records import Answer, Message

app = typer.Typer(
    help="A grounded assistant: answers only from your documents, with verbatim citations.",
    no_args_is_help=True, add_completion=False,
)


@app.callback()
def main_options(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False):
    _setup_logging(verbose)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.md .txt .html .pdf .docx).")],
    prune: Annotated[bool, typer.Option(help="Remove stored sources under PATHS whose files are gone.")] = False,
    data_dir: DataDir = None,
    collection: CollectionName = None,
) -> None:
    """Add or update documents (into --collection, made if new). Unchanged files are skipped; changed files replace
    their old chunks."""
    from rich.progress import Progress

    from ingest.loaders import SUPPORTED_SUFFIXES, IngestError
    from store.collection import StoreBusyError

    bot = _assistant(data_dir, collection, create=True)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("ingesting", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=f"ingesting {name}")

        try:
            report = bot.ingest(paths, prune=prune, progress=progress)
        except (IngestError, StoreBusyError) as exc:
            raise _fail(str(exc), 2) from exc
    for _path, message in report.failed:
        err.print(f"[yellow]skipped[/] {visible(message)}", highlight=False)
    if not (report.added or report.updated or report.unchanged or report.failed):
        where = ", ".join(str(p) for p in paths)
        err.print(f"[yellow]nothing to ingest:[/] no {' '.join(SUPPORTED_SUFFIXES)} files in {visible(where)}",
                  highlight=False)
    out.print(report.summary(), highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer contract as JSON.")] = False,
    history: Annotated[
        Path | None, typer.Option(help="JSON file with earlier turns: [{'role', 'content'}, ...].")
    ] = None,
    data_dir: DataDir = None,
    collection: CollectionName = None,
) -> None:
    """Answer one question from the stored documents, with citations."""
    from assistant.errors import QuestionError

    turns = _read_history(history) if history else []
    bot = _assistant(data_dir, collection)
    try:
        bot.validate_question(question)  # before anything is written to an empty store
    except QuestionError as exc:
        raise _fail(str(exc), 2) from exc
    _fill_empty_store(bot)
    try:
        answer = bot.ask(question, turns)
    except QuestionError as exc:
        raise _fail(str(exc), 2) from exc
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        print_answer(answer)


def _read_history(path: Path) -> list[Message]:
    """The turns of a history file, checked here so a bad file is one clear line (exit 2), not a traceback."""
    from assistant.errors import validation_summary

    try:
        turns = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8 (UnicodeDecodeError) or not JSON
        raise _fail(f"cannot read history file {path}: {exc}", 2) from exc
    if not isinstance(turns, list):
        raise _fail("the history file must hold a JSON list of {role, content} messages", 2)
    messages = []
    for number, turn in enumerate(turns, start=1):
        try:
            messages.append(Message.model_validate(turn))
        except ValidationError as exc:
            raise _fail(f"history file {path}: message {number} is not a {{role, content}} message "
                        f"({validation_summary(exc)})", 2) from exc
    return messages


def print_answer(answer: Answer) -> None:
    """The answer, then each citation's verbatim quote and where it is (document text is not markup)."""
    out.print(visible(answer.answer), highlight=False)
    if answer.abstained:
        out.print(f"[dim]({visible(answer.reason or '')})[/]", highlight=False)
        return
    out.print()
    for c in answer.citations:
        where = f"{c.title} — {c.section}" + (f", p. {c.page}" if c.page else "")
        out.print(f"[bold]\\[{c.n}][/] “{visible(c.quote)}”", highlight=False)
        out.print(f"    [dim]{visible(where)} · {visible(c.source)} · chars {c.start}–{c.end}[/]", highlight=False)


@app.command()
def chat(data_dir: DataDir = None, collection: CollectionName = None) -> None:
    """Chat in the terminal; follow-up questions use the conversation so far. Ctrl-D ends."""
    from assistant.errors import QuestionError

    bot = _assistant(data_dir, collection)
    _fill_empty_store(bot, out)
    out.print(f"{bot.collection.count()} chunks from {len(bot.sources())} documents. Ask away (Ctrl-D ends).")
    history: list[Message] = []
    while True:
        try:
            question = input("\nyou> ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not question.strip():
            continue
        try:
            answer = bot.ask(question, history)
        except QuestionError as exc:
            err.print(f"[red]{exc}[/]")
            continue
        print_answer(answer)
        history += [Message(role="user", content=question), Message(role="assistant", content=answer.answer)]


@app.command()
def sources(data_dir: DataDir = None, collection: CollectionName = None) -> None:
    """List the stored documents."""
    bot = _assistant(data_dir, collection)
    entries = bot.sources()
    for entry in entries:  # one line each, never cut: the path is what `remove` takes
        out.print(f"{visible(entry.source)}\t{visible(entry.title)}\t{entry.chunks} chunks\t{entry.ingested_at}",
                  highlight=False)
    if not entries:
        err.print("no documents stored; add some with `assistant ingest PATH`")


@app.command()
def remove(source: Annotated[str, typer.Argument(help="Source path, or its file name if unique.")],
           data_dir: DataDir = None, collection: CollectionName = None) -> None:
    """Delete one stored document and all its chunks."""
    from store.collection import StoreBusyError

    bot = _assistant(data_dir, collection)
    try:
        removed = bot.remove(source)
    except StoreBusyError as exc:
        raise _fail(str(exc), 2) from exc
    if removed is None:
        raise _fail(f"no stored source matches {source!r}; see `assistant sources`", 1)
    out.print(f"removed {visible(removed)}", highlight=False)


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option(help="Fix what is found: drop orphans, restore missing chunks, settle "
                                              "interrupted uploads, re-ingest changed sources.")] = False,
    data_dir: DataDir = None,
    collection: CollectionName = None,
) -> None:
    """Check that Chroma, the keyword index, the manifest and the source files agree (exit 1 if they do not)."""
    from assistant import upkeep
    from assistant.uploads import UploadArea
    from store import consistency
    from store.collection import StoreBusyError

    bot = _assistant(data_dir, collection)
    area = UploadArea(bot.settings.data_dir / "uploads")
    try:
        files = upkeep.repair_files(bot, area) if repair else upkeep.check_files(bot, area)
        report = consistency.repair(bot.collection) if repair else consistency.check(bot.collection)
    except StoreBusyError as exc:
        raise _fail(str(exc), 2) from exc
    for line in [*report.lines(), *files.lines()]:
        out.print(escape(line), highlight=False)
    for source in report.reingest:
        out.print(f"[yellow]ingest again:[/] {escape(source)}", highlight=False)
    if not (report.ok and files.ok):
        raise typer.Exit(1)


@app.command("export")
def export_store(file: Annotated[Path, typer.Argument(help="Backup file to write (gzipped JSON lines).")],
                 data_dir: DataDir = None, collection: CollectionName = None) -> None:
    """Back up the collection: sources, chunks and offsets (vectors are recomputed on import)."""
    from store.transfer import export_collection

    bot = _assistant(data_dir, collection)
    sources, chunks = export_collection(bot.collection, file)
    out.print(f"exported {sources} sources, {chunks} chunks to {escape(str(file))}", highlight=False)


@app.command("import")
def import_store(file: Annotated[Path, typer.Argument(help="A file written by `assistant export`.")],
                 data_dir: DataDir = None, collection: CollectionName = None) -> None:
    """Restore a backup into the store (sources already stored with the same content are skipped)."""
    from store.collection import StoreBusyError
    from store.transfer import TransferError, import_collection

    bot = _assistant(data_dir, collection, create=True)
    try:
        sources, chunks = import_collection(bot.collection, file)
    except (TransferError, StoreBusyError) as exc:
        raise _fail(str(exc), 2) from exc
    out.print(f"imported {sources} sources, {chunks} chunks", highlight=False)


@app.command("eval")
def evaluate(
    questions: Annotated[Path, typer.Argument(help="JSONL questions (question, history?, must, evidence, abstain), "
                                                  "or a benchmark folder of collections (benchmarks/).")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    compare: Annotated[Path | None, typer.Option(help="A previous JSON report to compare with.")] = None,
    sweep: Annotated[
        bool, typer.Option(help="Also sweep threshold, retrieval and chunking settings (one at a time).")
    ] = False,
    llm: Annotated[str | None, typer.Option(help="Answer backend for this run: extractive, openai, llamacpp.")] = None,
    verification: Annotated[bool, typer.Option(help=(
        "With a benchmark folder: measure citation verification instead, on each collection's verification.jsonl "
        "(the real verifier, then end to end through the openai backend against a loopback server)."))] = False,
    claims: Annotated[str, typer.Option(help=(
        "With --verification: the file name of each collection's verification set "
        "(verification-holdout.jsonl: the rows written after the verifier's rules, for a held-out check)."))
    ] = "verification.jsonl",
    data_dir: DataDir = None,
    collection: CollectionName = None,
) -> None:
    """Measure answer quality: retrieval recall, key facts, citation support, abstention, latency.

    Given a benchmark folder, every collection in it is ingested into its own store under the data dir
    (once) and evaluated: one table, per collection and over all."""
    from assistant import evaluation as ev
    from assistant.benchmark import is_benchmark

    if is_benchmark(questions) and verification:
        from assistant.interfaces.verification_command import evaluate_verification

        evaluate_verification(questions, out_file, data_dir, claims)
        return
    if is_benchmark(questions):
        _evaluate_benchmark(questions, out_file, data_dir, llm)
        return
    try:
        rows = ev.load_questions(questions)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {questions}: {exc}", 2) from exc
    bot = _assistant(data_dir, collection, **({"llm": llm} if llm else {}))
    _fill_empty_store(bot)
    report = ev.run_eval(bot.for_eval, rows)
    report.settings = bot.settings.model_dump(mode="json")  # keys are excluded fields
    if sweep:
        from assistant.calibration import sweep as run_sweep

        corpus = [Path(e.source) for e in bot.sources() if Path(e.source).exists()]
        out.print(run_sweep(bot, rows, corpus), highlight=False)
    baseline = ev.load_report(compare) if compare else None
    out.print(ev.markdown_table(report, baseline), highlight=False)
    for line in ev.failures(report):
        out.print(f"[yellow]{visible(line)}[/]", highlight=False)
    target = out_file or bot.settings.data_dir / "eval" / f"{questions.stem}-latest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.to_json(), encoding="utf-8")
    t = report.totals
    out.print(
        f"key-fact accuracy {t['key_fact_accuracy']:.3f} · citation support {t['citation_support']:.3f} · "
        f"quotes verbatim {t['quotes_verbatim']:.3f}\n"
        f"retrieval recall@1/3/5 {t['recall@1']:.2f}/{t['recall@3']:.2f}/{t['recall@5']:.2f} · MRR {t['mrr']:.3f}\n"
        f"abstention recall {t['abstention_recall']:.2f} · precision {t['abstention_precision']:.2f} · "
        f"false abstentions {t['false_abstentions']:g}\n"
        f"latency p50 {t['latency_p50_ms']:.0f} ms · p95 {t['latency_p95_ms']:.0f} ms · report {target}",
        highlight=False,
    )


def _evaluate_benchmark(folder: Path, out_file: Path | None, data_dir: Path | None, llm: str | None) -> None:
    """`assistant eval benchmarks/`: the table per collection and overall, then what each one missed."""
    from pydantic import ValidationError

    from assistant import evaluation as ev
    from assistant.benchmark import find_collections, run_benchmark
    from assistant.settings import Settings

    overrides = {**({"llm": llm} if llm else {}), **({"data_dir": data_dir} if data_dir else {})}
    try:
        settings = Settings(**overrides)
        collections = find_collections(folder)
        report = run_benchmark(collections, settings, progress=lambda step: err.print(f"[dim]{step}[/]"))
    except ValidationError as exc:
        raise _fail(f"invalid benchmark or settings: {exc}", 2) from exc
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot run the benchmark {folder}: {exc}", 2) from exc
    for name, collection_report in report.collections.items():
        for line in ev.failures(collection_report):
            out.print(f"[yellow]{visible(name)} {visible(line)}[/]", highlight=False)
    out.print(report.table(), highlight=False)
    target = out_file or settings.data_dir / "eval" / "benchmark-latest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.to_json(), encoding="utf-8")
    out.print(f"report {target}", highlight=False)


app.command()(serve)
app.add_typer(collections_app, name="collections")
app.add_typer(keys_app, name="keys")


def main() -> None:
    app()
