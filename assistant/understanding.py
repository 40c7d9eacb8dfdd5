"""Stage 1 of an answer: the question read once, into the record every later stage takes.

A follow-up's standalone form (written by ``Assistant.standalone``: the language model's rewrite or the
rule of ``questions.standalone_question``), what kind of answer it expects, the specifics the evidence must
hold, and its parts ("Who wrote it and where does he work?" has two, each searched and answered).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.questions import QuestionProfile, asks_about_document, profile, sub_questions


@dataclass(frozen=True, slots=True)
class QuestionPart:
    """One part of a several-part question: what it asks and the query that searches for it."""

    profile: QuestionProfile
    query: str  # a later part leans on the first: "where does he work? (Who wrote the article)"


@dataclass(frozen=True, slots=True)
class Question:
    text: str  # as asked
    standalone: str  # what is searched: the follow-up rewritten with the conversation, else ``text``
    profile: QuestionProfile  # answer types, specifics and terms (a follow-up's types are its own)
    parts: tuple[QuestionPart, ...]  # empty for a one-part question
    about_document: bool  # "who wrote it?": front matter may answer

    @property
    def queries(self) -> tuple[str, ...]:
        """Every search the question needs: the standalone form, then each later part's."""
        return (self.standalone, *(p.query for p in self.parts[1:]))


def understand(question: str, standalone: str) -> Question:
    """The question analysed once. ``standalone`` is its search form (``question`` when it is no follow-up)."""
    asked = profile(question) if standalone == question else _merge_profiles(question, standalone)
    texts = sub_questions(question)
    parts = tuple(
        QuestionPart(profile(part), part if i == 0 else f"{part} ({texts[0]})") for i, part in enumerate(texts)
    ) if len(texts) > 1 else ()
    return Question(question, standalone, asked, parts, asks_about_document(question))


def _merge_profiles(question: str, standalone: str) -> QuestionProfile:
    """A follow-up keeps its own answer type; its specifics and terms come from the rewrite."""
    own, merged = profile(question), profile(standalone)
    return QuestionProfile(question, own.expects, merged.specifics, merged.stems)
