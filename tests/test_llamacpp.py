"""The bundled SmolLM2-135M through llama.cpp on the CPU: the guarantees hold whatever it writes."""

from __future__ import annotations

import re

import pytest

from assistant.questions import missing_specifics, specifics
from assistant.records import AnswerEvent, TokenEvent
from ingest.loaders import load
from tests.conftest import CORPUS

pytest.importorskip("llama_cpp", reason="the llm extra is not installed (scripts/test.sh installs it)")
pytestmark = pytest.mark.slow

QUESTIONS = [
    "When was the U.S.-Turkey Strategic Mechanism announced?",
    "How many F-16 fighter jets and modernization kits did Turkey request?",
]


@pytest.fixture(scope="module")
def smollm(embedder, tmp_path_factory):
    from assistant.service import Assistant
    from assistant.settings import Settings

    bot = Assistant(Settings(data_dir=tmp_path_factory.mktemp("llm"), llm="llamacpp"), embedder=embedder)
    bot.ingest([CORPUS])
    return bot


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_kept_sentence_is_supported_by_its_verbatim_citation(smollm, question):
    events = list(smollm.ask_stream(question))
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerEvent)
    assert any(isinstance(e, TokenEvent) for e in events[:-1]), "the model streamed nothing"
    assert not answer.abstained
    assert answer.backend in {"llamacpp", "extractive"}  # extractive: verification dropped every sentence
    source = load(CORPUS).text
    by_number = {c.n: c for c in answer.citations}
    for citation in answer.citations:
        assert source[citation.start : citation.end] == citation.quote
    sentences = re.findall(r"(.+?)\s*\[(\d+)\]", answer.answer)
    assert sentences, answer.answer
    for sentence, number in sentences:
        citation = by_number[int(number)]  # every marker points at a citation
        chunk = next(c for c in answer.contexts if c.chunk_id == citation.chunk_id)
        assert missing_specifics(specifics(sentence), chunk.text) == [], (sentence, citation.quote)


def test_unanswerable_question_is_refused_before_generation(smollm):
    answer = smollm.ask("What is the capital of Australia?")
    assert answer.abstained and answer.citations == []
