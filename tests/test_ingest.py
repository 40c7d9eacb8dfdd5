"""Ingest through the Assistant: re-ingest, updates, prune, remove and failures keep every store in step.

Real Chroma and the real keyword index in the test's own data dir; small chunks so small files make
several chunks.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.loaders import IngestError, load
from tests.conftest import CORPUS
from tests.test_loaders import make_docx, make_pdf

SMALL = {"chunk_size": 200, "chunk_overlap": 50}

DOCS = {
    "volcanoes.md": "# Volcanoes\n\nVolcanoes erupt molten lava and ash when magma rises from the mantle. "
                    "An eruption can bury nearby towns under ash.\n\n## Monitoring\n\nScientists measure "
                    "ground swelling with GPS stations. Gas sensors warn of rising sulfur dioxide. "
                    "Seismometers record the small earthquakes that come before an eruption.\n",
    "bananas.md": "# Bananas\n\nBananas are yellow tropical fruit that grow in hanging bunches. A ripe "
                  "banana is sweet and soft. Green bananas ripen faster in a paper bag.\n\n## Trade\n\n"
                  "Ecuador exports more bananas than any other country. Most of them travel in cooled ships.\n",
    "chess.txt": "In chess, the knight moves in an L shape and can jump over other pieces. Checkmate ends the "
                 "game when the king cannot escape. A draw happens by stalemate or agreement.\n",
}


def write_docs(folder: Path, docs: dict[str, str] = DOCS) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in docs.items():
        paths[name] = folder / name
        paths[name].write_text(text, encoding="utf-8")
    return paths


def manifest_ids(bot) -> dict[str, set[str]]:
    return {e.source: set(e.chunk_ids) for e in bot.sources()}


def assert_consistent(bot) -> set[str]:
    """Chroma, its sentence vectors, the keyword index and the manifest hold exactly the same chunks."""
    expected = set().union(*manifest_ids(bot).values()) if bot.sources() else set()
    dense, keyword = bot.collection.dense, bot.collection.keyword
    assert set(dense.all_ids()) == expected
    assert set(keyword.all_ids()) == expected
    assert dense.count() == keyword.count() == len(expected)
    stored = dense.get(sorted(expected))
    assert dense.sentences.count() == sum(len(c.sentences) for c in stored)
    assert set(dense.sentence_vectors(stored)) == expected
    for entry in bot.sources():
        assert len(entry.chunk_ids) == len(set(entry.chunk_ids)), "duplicate ids in one source"
    return expected


def test_article_ingest_stores_every_chunk(article_assistant):
    [entry] = article_assistant.sources()
    assert entry.source == str(CORPUS.resolve())
    assert entry.title == "Making the New U.S.-Turkey Strategic Mechanism Meaningful"
    expected = [c.id for c in chunk_document(load(CORPUS), article_assistant.chunking)]
    assert list(entry.chunk_ids) == expected
    assert assert_consistent(article_assistant) == set(expected)


def test_reingesting_the_same_files_changes_nothing(make_assistant, tmp_files):
    write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    first = bot.ingest([tmp_files])
    assert sorted(Path(s).name for s in first.added) == sorted(DOCS)
    assert first.updated == first.unchanged == first.failed == first.removed == []
    ids = assert_consistent(bot)
    assert first.chunks == len(ids) > len(DOCS)
    entries = {e.source: e for e in bot.sources()}

    second = bot.ingest([tmp_files])
    assert sorted(Path(s).name for s in second.unchanged) == sorted(DOCS)
    assert second.added == second.updated == second.failed == []
    assert second.chunks == 0
    assert "0 added, 0 updated, 3 unchanged" in second.summary()
    assert assert_consistent(bot) == ids
    assert {e.source: e for e in bot.sources()} == entries  # not even a timestamp rewritten

    # a new Assistant on the same data dir (a new process) agrees
    again = make_assistant(**SMALL).ingest([tmp_files / "chess.txt", tmp_files])
    assert len(again.unchanged) == len(DOCS) and not again.added


def test_a_new_chunker_version_cuts_stored_files_again(make_assistant, tmp_files, monkeypatch):
    """A store written before the sentence rules changed is not left with the old cuts forever."""
    import ingest.chunking

    write_docs(tmp_files)
    make_assistant(**SMALL).ingest([tmp_files])
    monkeypatch.setattr(ingest.chunking, "CHUNKER_VERSION", ingest.chunking.CHUNKER_VERSION + 1)
    bot = make_assistant(**SMALL)
    report = bot.ingest([tmp_files])
    assert sorted(Path(s).name for s in report.updated) == sorted(DOCS) and not report.unchanged
    assert_consistent(bot)
    assert len(bot.ingest([tmp_files]).unchanged) == len(DOCS)


def test_a_changed_file_replaces_its_old_chunks(make_assistant, tmp_files):
    paths = write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    bot.ingest([tmp_files])
    before = manifest_ids(bot)
    source = str(paths["volcanoes.md"].resolve())
    old_text = paths["volcanoes.md"].read_text(encoding="utf-8")
    paths["volcanoes.md"].write_text(
        old_text.replace("Gas sensors warn of rising sulfur dioxide.", "Drones now sample the gas plume directly."),
        encoding="utf-8",
    )

    report = bot.ingest([tmp_files])
    assert report.updated == [source]
    assert sorted(Path(s).name for s in report.unchanged) == ["bananas.md", "chess.txt"]
    after = manifest_ids(bot)
    assert_consistent(bot)
    gone, kept, new = before[source] - after[source], before[source] & after[source], after[source] - before[source]
    assert gone and new and kept, "the unchanged section keeps its chunk ids, the edited one gets new ones"
    assert bot.collection.dense.get(sorted(gone)) == [] and bot.collection.keyword.get(sorted(gone)) == []
    texts = [c.text for c in bot.collection.dense.get(sorted(after[source]))]
    assert not any("sulfur dioxide" in t for t in texts)
    assert any("Drones now sample the gas plume directly." in t for t in texts)
    assert all("sulfur" not in h.chunk.text for h in bot.collection.keyword.search("sulfur dioxide", 10))
    for other in ("bananas.md", "chess.txt"):
        key = str(paths[other].resolve())
        assert after[key] == before[key]
    # every stored chunk of the new version is the file's current text at its offsets
    current = paths["volcanoes.md"].read_text(encoding="utf-8")
    for chunk in bot.collection.dense.get(sorted(after[source])):
        assert current[chunk.start : chunk.end] == chunk.text


def test_answers_quote_the_current_version_of_an_updated_file(make_assistant, tmp_files):
    path = tmp_files / "facts.md"
    path.write_text("# Bridge\n\nThe Old Mill bridge was finished in 1887 by local masons.\n", encoding="utf-8")
    bot = make_assistant()
    bot.ingest([path])
    path.write_text("# Note\n\nA short preface comes first now.\n\n# Bridge\n\n"
                    "The Old Mill bridge was finished in 1893 by local masons.\n", encoding="utf-8")
    assert bot.ingest([path]).updated == [str(path.resolve())]
    answer = bot.ask("When was the Old Mill bridge finished?")
    assert not answer.abstained and answer.citations
    text = path.read_text(encoding="utf-8")
    for citation in answer.citations:
        assert text[citation.start : citation.end] == citation.quote
    assert "1893" in answer.answer and "1887" not in answer.answer


def test_prune_removes_sources_whose_files_are_gone(make_assistant, tmp_path, tmp_files):
    paths = write_docs(tmp_files)
    outside = write_docs(tmp_path / "elsewhere", {"notes.txt": "Notes kept outside the pruned folder."})
    bot = make_assistant(**SMALL)
    bot.ingest([tmp_files, outside["notes.txt"]])
    before = manifest_ids(bot)
    paths["bananas.md"].unlink()
    outside["notes.txt"].unlink()

    plain = bot.ingest([tmp_files])  # without --prune the missing file's chunks stay
    assert plain.removed == []
    assert manifest_ids(bot) == before

    report = bot.ingest([tmp_files], prune=True)
    banana = str(paths["bananas.md"].resolve())
    assert report.removed == [banana]
    assert "1 removed" in report.summary()
    after = manifest_ids(bot)
    assert banana not in after
    assert str(outside["notes.txt"].resolve()) in after  # not under the pruned folder: kept
    assert_consistent(bot)
    assert bot.collection.dense.get(sorted(before[banana])) == []
    assert bot.collection.keyword.search("bananas ripen paper bag", 5) == []


def test_remove_by_file_name_or_full_source(make_assistant, tmp_files):
    paths = write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    bot.ingest([tmp_files])
    before = manifest_ids(bot)

    assert bot.remove("no-such-file.md") is None
    assert manifest_ids(bot) == before

    chess = str(paths["chess.txt"].resolve())
    assert bot.remove("chess.txt") == chess
    assert chess not in manifest_ids(bot)
    assert bot.collection.dense.get(sorted(before[chess])) == []
    assert_consistent(bot)
    assert bot.remove("chess.txt") is None  # already gone

    volcano = str(paths["volcanoes.md"].resolve())
    assert bot.remove(volcano) == volcano
    assert set(manifest_ids(bot)) == {str(paths["bananas.md"].resolve())}
    assert_consistent(bot)


def test_remove_accepts_the_relative_path_that_was_ingested(make_assistant, tmp_path, tmp_files):
    write_docs(tmp_files)
    relative = Path(tmp_files.name) / "chess.txt"  # the tests run in tmp_path
    assert Path.cwd().resolve() == tmp_path.resolve()
    bot = make_assistant(**SMALL)
    bot.ingest([relative])
    assert bot.remove(str(relative)) == str((tmp_files / "chess.txt").resolve())


def test_an_ambiguous_file_name_removes_nothing(make_assistant, tmp_files):
    one = write_docs(tmp_files / "one", {"same.md": "The first file about owls."})
    two = write_docs(tmp_files / "two", {"same.md": "The second file about larks."})
    bot = make_assistant(**SMALL)
    bot.ingest([tmp_files])
    assert bot.remove("same.md") is None
    assert len(bot.sources()) == 2
    assert bot.remove(str(two["same.md"])) == str(two["same.md"].resolve())
    assert [e.source for e in bot.sources()] == [str(one["same.md"].resolve())]
    assert_consistent(bot)


def test_a_bad_file_among_good_ones_is_reported_and_nothing_is_lost(make_assistant, tmp_files):
    paths = write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    bot.ingest([paths["chess.txt"]])
    stored = manifest_ids(bot)
    (tmp_files / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_files / "blank.md").write_text("   \n\n  ", encoding="utf-8")

    report = bot.ingest([tmp_files])
    failed = {Path(f).name: message for f, message in report.failed}
    assert set(failed) == {"picture.txt", "blank.md"}
    assert "binary" in failed["picture.txt"] and "no text" in failed["blank.md"]
    assert sorted(Path(s).name for s in report.added) == ["bananas.md", "volcanoes.md"]
    assert [Path(s).name for s in report.unchanged] == ["chess.txt"]
    assert "2 failed" in report.summary()
    after = manifest_ids(bot)
    assert set(after) == {str(paths[n].resolve()) for n in DOCS}
    assert all(after[s] == ids for s, ids in stored.items())
    assert_consistent(bot)


def test_an_unreadable_file_does_not_sink_the_files_before_it(make_assistant, tmp_files):
    paths = write_docs(tmp_files)
    unreadable = tmp_files / "zz-unreadable.txt"  # sorted last: the good files are already batched
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(unreadable))
        bot = make_assistant(**SMALL)
        report = bot.ingest([*paths.values(), unreadable])
    assert [Path(f).name for f, _ in report.failed] == [unreadable.name]
    assert len(report.added) == len(DOCS)


def test_new_chunking_settings_rechunk_on_the_next_ingest(make_assistant, tmp_files, tmp_path):
    write_docs(tmp_files)
    long_doc = tmp_files / "long.txt"
    long_doc.write_text(" ".join(f"Sentence number {i} talks about harbors and ships." for i in range(40)),
                        encoding="utf-8")
    make_assistant(chunk_size=200, chunk_overlap=50).ingest([tmp_files])
    bot = make_assistant(chunk_size=600, chunk_overlap=100)
    report = bot.ingest([tmp_files])
    assert len(report.updated) == len(DOCS) + 1
    fresh = make_assistant(data_dir=tmp_path / "fresh", chunk_size=600, chunk_overlap=100)
    fresh.ingest([tmp_files])
    assert set(bot.collection.dense.all_ids()) == set(fresh.collection.dense.all_ids())
    assert set(bot.collection.keyword.all_ids()) == set(fresh.collection.keyword.all_ids())
    assert bot.ingest([tmp_files]).unchanged  # and the next run with the same settings changes nothing


def test_a_stored_file_that_turns_unreadable_keeps_its_last_good_version(make_assistant, tmp_files):
    paths = write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    bot.ingest([tmp_files])
    before = manifest_ids(bot)
    paths["bananas.md"].write_bytes(b"\x00\x01\x02binary garbage\x00")
    report = bot.ingest([tmp_files])
    assert [Path(f).name for f, _ in report.failed] == ["bananas.md"]
    assert manifest_ids(bot) == before
    assert_consistent(bot)


def test_a_missing_path_fails_before_anything_is_written(make_assistant, tmp_files):
    write_docs(tmp_files)
    bot = make_assistant(**SMALL)
    with pytest.raises(IngestError, match="no such file or folder"):
        bot.ingest([tmp_files, tmp_files / "missing.md"])
    assert bot.sources() == []
    assert bot.collection.dense.count() == bot.collection.keyword.count() == 0


def test_identical_text_in_two_sources_is_stored_twice(make_assistant, tmp_files):
    text = DOCS["volcanoes.md"]
    one = write_docs(tmp_files / "one", {"copy.md": text})["copy.md"]
    two = write_docs(tmp_files / "two", {"copy-of-copy.md": text})["copy-of-copy.md"]
    bot = make_assistant(**SMALL)
    report = bot.ingest([one, two])
    assert len(report.added) == 2
    ids = manifest_ids(bot)
    first, second = ids[str(one.resolve())], ids[str(two.resolve())]
    assert len(first) == len(second) > 0
    assert not first & second, "chunk ids include the source"
    assert assert_consistent(bot) == first | second
    hits = bot.collection.keyword.search("seismometers earthquakes eruption", 10)
    assert {h.chunk.source for h in hits} == {str(one.resolve()), str(two.resolve())}
    bot.remove(str(one))
    assert assert_consistent(bot) == second


def test_pdf_docx_and_html_ingest_keep_their_structure(make_assistant, tmp_files):
    (tmp_files / "animals.pdf").write_bytes(make_pdf(["Aardvarks dig burrows at night.", "",
                                                      "Zebras have black and white stripes."]))
    make_docx(tmp_files / "report.docx", title="Quarterly Report")
    (tmp_files / "page.html").write_text("<title>Web Page</title><h1>Owls</h1><p>Owls hunt at night.</p>",
                                         encoding="utf-8")
    bot = make_assistant(chunk_size=50, chunk_overlap=0)
    report = bot.ingest([tmp_files])
    assert len(report.added) == 3 and not report.failed
    assert_consistent(bot)
    by_text = {h.chunk.text: h.chunk for h in bot.collection.keyword.search("zebras aardvarks", 5)}
    assert by_text["Zebras have black and white stripes."].page == 3
    assert by_text["Aardvarks dig burrows at night."].page == 1
    [owls] = bot.collection.keyword.search("owls hunt", 1)
    assert (owls.chunk.section, owls.chunk.title) == ("Owls", "Web Page")
    [background] = bot.collection.dense.search("background paragraph odd spacing", 1)
    assert (background.chunk.section, background.chunk.title) == ("Background", "Quarterly Report")


def test_ingest_reports_progress(make_assistant, tmp_files):
    write_docs(tmp_files)
    seen: list[tuple[int, int, str]] = []
    make_assistant(**SMALL).ingest([tmp_files], progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen[0] == (0, 3, "bananas.md")
    assert seen[-1] == (3, 3, "")
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


def _many_docs(folder: Path, count: int) -> Path:
    words = "harbor glacier census orchard railway archive lithium festival".split()
    docs = {f"note{i:02d}.md": f"# Note {i}\n\n" + " ".join(
        f"Paragraph {p} of note {i} mentions the {words[(i + p) % len(words)]} and the {words[(i * p) % len(words)]}."
        for p in range(12)) for i in range(count)}
    write_docs(folder, docs)
    return folder


def test_a_pipelined_ingest_encodes_each_chunk_once_and_stores_every_batch(make_assistant, tmp_path, monkeypatch):
    import assistant.ingestion as ingestion

    monkeypatch.setattr(ingestion, "BATCH_CHUNKS", 4)  # many batches: load, encode and write overlap
    bot = make_assistant(**SMALL)
    encoded: list[int] = []
    encode = bot.embedder.encode_with_spans
    monkeypatch.setattr(bot.embedder, "encode_with_spans", lambda texts, spans: encoded.append(len(texts))
                        or encode(texts, spans))
    report = bot.ingest([_many_docs(tmp_path / "docs", 10)])
    assert len(report.added) == 10 and report.chunks > 20 and len(encoded) >= 5
    assert sum(encoded) == report.chunks  # the write stage reused the encode stage's vectors
    assert len(assert_consistent(bot)) == report.chunks


def test_a_busy_store_fails_the_ingest_with_its_own_error_and_stores_nothing(make_assistant, tmp_path, monkeypatch):
    from filelock import FileLock

    import assistant.ingestion as ingestion
    from store.collection import StoreBusyError

    monkeypatch.setattr(ingestion, "BATCH_CHUNKS", 4)
    bot = make_assistant(**SMALL)
    bot.collection.lock_timeout = 0.2
    with FileLock(str(bot.collection.data_dir / ".write.lock")), pytest.raises(StoreBusyError):
        bot.ingest([_many_docs(tmp_path / "docs", 6)])  # the first batch's error, not a later batch's
    assert bot.sources() == []
    assert bot.ingest([tmp_path / "docs"]).chunks > 0  # the lock released, the same ingest goes through
    assert_consistent(bot)
