"""Misspelled question words corrected against the collection's words (assistant/spelling.py)."""

from __future__ import annotations

import pytest

from assistant.spelling import corrected, corrections


@pytest.fixture(scope="module")
def english(embedder):
    return embedder.whole_words


@pytest.fixture
def vocabulary(article_assistant):
    return article_assistant.collection.vocabulary()


def test_the_encoders_whole_words_are_its_english(english):
    assert {"boil", "egg", "connect", "default"} <= english and "##ing" not in english
    assert not {"mechanizm", "anounced", "defualt"} & english


def test_typos_take_the_collections_spelling(vocabulary, english):
    fixes = {c.word: c.replacement for c in corrections("wen was the strategic mechanizm anounced", vocabulary,
                                                        english)}
    assert fixes == {"mechanizm": "mechanism", "anounced": "announced"}
    assert corrected("which working groops did the goverments set up", vocabulary, english) == \
        "which working groups did the governments set up"


@pytest.mark.parametrize("question", [
    "How long should I boil an egg?",  # English the documents do not use: another subject, not a typo
    "What did Erdogan say about the S-400 and --soft?",  # names, options and numbers stay as written
    "Which separators are used?",  # another form of a word the documents use
    "grep ignore uper/lower case",  # part of a path-like token
])
def test_known_words_names_and_forms_stay_as_written(vocabulary, english, question):
    assert corrected(question, vocabulary, english) == question


def test_a_misspelled_question_finds_its_passage(article_assistant):
    """The issue's example: without the correction it was answered with three unrelated sentences."""
    question = "wen was the strategic mechanizm anounced"
    assert "announced in early April 2022" in article_assistant.ask(question).answer
    article_assistant.retriever.config = article_assistant.retriever.config.model_copy(
        update={"correct_spelling": False})
    assert "announced in early April 2022" not in article_assistant.ask(question).answer


def test_a_run_of_capitalised_words_ends_at_the_sentence():
    from assistant.questions import acronyms

    text = "decisions by the European Court of Human Rights. As Turkey speaks of a new era"
    assert "echr" in acronyms(text), "'Rights. As Turkey' ran on into 'echrat'"


def test_an_acronym_the_collection_only_spells_out_is_searched_with_its_long_form(article_assistant):
    """The article never writes "ECHR": the question was refused ("the documents do not mention ECHR")."""
    from assistant.spelling import with_acronyms_spelled_out

    collection = article_assistant.collection
    question = "What does the author fault Turkey for when it comes to ECHR rulings?"
    assert with_acronyms_spelled_out(question, collection.vocabulary(), collection.find_text) == \
        f"{question} (European Court of Human Rights)"
    answer = article_assistant.ask(question)
    assert not answer.abstained and "European Court of Human Rights" in answer.answer
    unknown = "Did the OECD comment on this?"  # spelled out nowhere: unchanged
    assert with_acronyms_spelled_out(unknown, collection.vocabulary(), collection.find_text) == unknown
