"""The `assistant` command, run as a real subprocess on the test's own data dir (marked slow).

Each call pays 1-2 s of imports and model loading (ONNX default), so each test batches several checks. The printed
(human) answer and error output are checked in-process at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from assistant.interfaces import cli as cli_module
from assistant.records import Answer, Citation
from assistant.settings import Settings
from ingest.chunking import chunk_document
from ingest.loaders import load
from store.manifest import Manifest
from tests.conftest import CORPUS, ROOT

ASSISTANT = ROOT / ".venv" / "bin" / "assistant"
QUESTION = "When was the U.S.-Turkey Strategic Mechanism announced?"


def cli(data_dir: Path, *args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_DATA_DIR": str(data_dir), "COLUMNS": str(columns),
           "ANONYMIZED_TELEMETRY": "False"}
    return subprocess.run([str(ASSISTANT), *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def article(tmp_files: Path) -> Path:
    copy = tmp_files / CORPUS.name
    shutil.copy(CORPUS, copy)
    return copy


def store_snapshot(data_dir: Path) -> tuple[bytes, bytes]:
    """Every ingest and remove rewrites the manifest and appends to the keyword log."""
    return (data_dir / "manifest.json").read_bytes(), (data_dir / "keyword" / "chunks.jsonl").read_bytes()


@pytest.mark.slow
def test_ingest_ask_sources_remove(data_dir: Path, article: Path, make_assistant):
    settings = Settings()
    expected_chunks = len(chunk_document(load(article), settings.chunking))

    first = cli(data_dir, "ingest", str(article))
    assert first.returncode == 0, first.stderr
    summary = re.search(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) removed, (\d+) failed; (\d+) chunks",
                        first.stdout)
    assert summary, first.stdout
    assert summary.groups() == ("1", "0", "0", "0", "0", str(expected_chunks))

    second = cli(data_dir, "ingest", str(article))
    assert second.returncode == 0, second.stderr
    assert "0 added, 0 updated, 1 unchanged, 0 removed, 0 failed; 0 chunks" in second.stdout

    asked = cli(data_dir, "ask", "--json", QUESTION)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert {"answer", "abstained", "citations", "contexts"} <= set(answer)
    assert answer["abstained"] is False
    assert "April 2022" in answer["answer"]
    assert answer["citations"], "an answer without citations"
    assert [c["n"] for c in answer["citations"]] == list(range(1, len(answer["citations"]) + 1))
    context_ids = {c["chunk_id"] for c in answer["contexts"]}
    for context in answer["contexts"]:
        assert {"chunk_id", "source", "text", "score"} <= set(context)
        assert context["text"] in article.read_text(encoding="utf-8")
    for citation in answer["citations"]:
        assert {"n", "source", "title", "section", "quote", "chunk_id", "start", "end"} <= set(citation)
        assert citation["source"] == str(article.resolve())
        with open(citation["source"], encoding="utf-8") as source:
            assert source.read()[citation["start"] : citation["end"]] == citation["quote"]
        assert citation["title"] == "Making the New U.S.-Turkey Strategic Mechanism Meaningful"
        assert citation["chunk_id"] in context_ids
        assert f"[{citation['n']}]" in answer["answer"]

    off_topic = cli(data_dir, "ask", "--json", "What is the capital of Australia?")
    assert off_topic.returncode == 0, off_topic.stderr
    abstained = json.loads(off_topic.stdout)
    assert abstained["abstained"] is True
    assert abstained["citations"] == []

    listed = cli(data_dir, "sources")
    assert listed.returncode == 0, listed.stderr
    assert str(article.resolve()) in listed.stdout
    assert "Making the New U.S.-Turkey Strategic Mechanism Meaningful" in listed.stdout
    assert str(expected_chunks) in listed.stdout

    unknown = cli(data_dir, "remove", "no-such-document.md")
    assert unknown.returncode != 0
    assert "no stored source matches 'no-such-document.md'" in words(unknown.stderr)

    removed = cli(data_dir, "remove", article.name)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {article.resolve()}" in removed.stdout

    bot = make_assistant()  # a fresh look at the store the subprocesses left
    assert bot.sources() == []
    assert bot.collection.dense.count() == bot.collection.keyword.count() == 0


@pytest.mark.slow
def test_bad_input_fails_clearly_and_changes_nothing(data_dir: Path, article: Path, tmp_files: Path,
                                                     make_assistant):
    bot = make_assistant()
    bot.ingest([article])
    count = bot.collection.dense.count()
    before = store_snapshot(data_dir)

    missing = cli(data_dir, "ingest", str(tmp_files / "missing.md"))
    assert missing.returncode == 2
    assert "missing.md: no such file or folder" in words(missing.stderr)

    for empty in ("", "   "):
        result = cli(data_dir, "ask", empty)
        assert result.returncode == 2, empty
        assert "the question is empty" in words(result.stderr)

    long = cli(data_dir, "ask", "why " * 25_000)  # a 100 KB question
    assert long.returncode == 2
    message = words(long.stderr)
    assert f"the limit is {Settings().max_question_chars:,}" in message and "characters" in message

    (tmp_files / "notes.xyz").write_text("text in an unsupported format", encoding="utf-8")
    unsupported = cli(data_dir, "ingest", str(tmp_files / "notes.xyz"))
    assert unsupported.returncode == 1
    assert "notes.xyz: unsupported file type '.xyz'" in words(unsupported.stderr)
    assert "0 added, 0 updated, 0 unchanged, 0 removed, 1 failed" in unsupported.stdout

    for result in (missing, long, unsupported):
        assert "Traceback" not in result.stderr and "Error" not in result.stderr
    assert store_snapshot(data_dir) == before
    again = make_assistant()
    assert [e.source for e in again.sources()] == [str(article.resolve())]
    assert again.collection.dense.count() == again.collection.keyword.count() == count


@pytest.mark.slow
def test_sources_shows_the_file_name_on_a_narrow_terminal(data_dir: Path, article: Path, make_assistant):
    make_assistant().ingest([article])
    listed = cli(data_dir, "sources", columns=80)
    assert listed.returncode == 0, listed.stderr
    assert article.name in listed.stdout


@pytest.mark.slow
def test_a_refused_question_does_not_fill_an_empty_store(data_dir: Path):
    result = cli(data_dir, "ask", "   ")
    assert result.returncode == 2
    assert "the question is empty" in words(result.stderr)
    assert Manifest(data_dir / "manifest.json").load() == {}


# The human-readable answer, printed in-process (the subprocess tests above check the --json contract)


def _answer(quote: str) -> Answer:
    citation = Citation(n=1, source="/docs/log.md", title="Ship Log", section="Day One", quote=quote,
                        chunk_id="c1", start=10, end=10 + len(quote), page=4)
    return Answer(answer=f"{quote} [1]", abstained=False, citations=[citation])


def _printed(answer: Answer) -> str:
    with cli_module.out.capture() as captured:
        cli_module.print_answer(answer)
    return captured.get()


def test_printed_answer_shows_quotes_and_where_they_are():
    printed = _printed(_answer("The crew sighted land at dawn."))
    assert "The crew sighted land at dawn. [1]" in printed
    assert "[1] “The crew sighted land at dawn.”" in printed
    assert "Ship Log — Day One, p. 4 · /docs/log.md · chars 10–40" in printed


def test_printed_abstention_gives_the_reason_and_no_citations():
    printed = _printed(Answer(answer="The documents do not cover this.", abstained=True, reason="no evidence"))
    assert "The documents do not cover this." in printed
    assert "(no evidence)" in printed
    assert "[1]" not in printed


def test_printed_quotes_keep_square_brackets_verbatim():
    quote = "The witness wrote [sic] in the log."
    printed = _printed(_answer(quote))
    assert f"“{quote}”" in printed


@pytest.mark.parametrize("name", ["draft[/b].md", "notes[b].md"])
def test_error_messages_print_paths_with_brackets_verbatim(name: str):
    message = f"{name}: no such file or folder"
    with cli_module.err.capture() as captured:
        cli_module._fail(message, 2)
    assert message in captured.get()


COLD_ASK = """
import sys
from assistant.interfaces.cli import main
sys.argv = ["assistant", "ask", "--json", {question!r}]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
heavy = {heavy!r}
print("IMPORTED", *[m for m in heavy if m in sys.modules], file=sys.stderr)
"""


@pytest.mark.slow
def test_a_cold_ask_imports_only_what_it_needs(data_dir: Path):
    """The quick-look-up path loads no web framework, no model runtime but ONNX Runtime, and none of
    langchain's runnables (bench/cold_start.py times it: about a quarter of the bare model process)."""
    heavy = ("torch", "transformers", "sentence_transformers", "gradio", "fastapi", "uvicorn",
             "langchain_core.runnables", "langchain_openai", "llama_cpp", "matplotlib")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_DATA_DIR": str(data_dir), "ANONYMIZED_TELEMETRY": "False"}
    env.pop("ASSISTANT_EMBEDDING_BACKEND", None)
    code = COLD_ASK.format(question=QUESTION, heavy=heavy)
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    answer = Answer.model_validate_json(done.stdout)
    assert answer.citations and not answer.abstained  # the bundled collection, ingested on this first call
    imported = next(line for line in done.stderr.splitlines() if line.startswith("IMPORTED")).split()[1:]
    assert imported == []
