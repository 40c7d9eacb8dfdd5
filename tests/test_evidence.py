"""Evidence-sentence scoring (assistant/evidence.py): features, weights, and the setting that overrides them."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from pydantic import ValidationError

from assistant.evidence import FEATURES, HAND_SET, EvidenceWeights, learned_weights, score_sentences
from assistant.questions import profile
from assistant.settings import Settings

QUESTION = "How many F-16 fighter jets did Turkey ask to buy?"


def test_the_shipped_weights_are_the_hand_set_ones_and_name_the_features():
    shipped = json.loads(files("assistant").joinpath("data/evidence_fit.json").read_text(encoding="utf-8"))
    assert tuple(shipped["features"]) == FEATURES
    assert learned_weights().weights == HAND_SET.weights  # no fit beat them held out (docs/calibration.md)


def test_every_candidate_carries_its_features_and_is_ranked_by_the_weights(article_assistant):
    bot = article_assistant
    hits = bot.retriever.retrieve(QUESTION)
    vectors = bot.collection.sentence_vectors([h.chunk for h in hits])
    query = bot.embedder.query_vector(QUESTION)
    ranked = score_sentences(hits, profile(QUESTION), query, vectors)
    assert ranked and all(len(c.features) == len(FEATURES) for c in ranked)
    assert all(c.score == pytest.approx(HAND_SET.score(c.features)) for c in ranked)
    assert all(c.features[0] == pytest.approx(c.dense) and 0 < c.features[3] <= 1 for c in ranked)
    assert all(0 <= c.features[6] <= 1 for c in ranked)  # position in the chunk
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)

    by_length = EvidenceWeights((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), "test")  # longest sentence first
    reordered = score_sentences(hits, profile(QUESTION), query, vectors, by_length)
    lengths = [len(c.text.split()) for c in reordered]
    assert lengths == sorted(lengths, reverse=True) and [c.text for c in reordered] != [c.text for c in ranked]


def test_the_weights_can_be_set_and_are_checked(monkeypatch: pytest.MonkeyPatch, article_assistant):
    monkeypatch.setenv("ASSISTANT_EVIDENCE_WEIGHTS", "1, 0.3, 0.05, 0, 0, 0, 0, 0.5")
    assert Settings().answering.evidence_weights == (1.0, 0.3, 0.05, 0.0, 0.0, 0.0, 0.0, 0.5)
    monkeypatch.setenv("ASSISTANT_EVIDENCE_WEIGHTS", "1, 0.3")
    with pytest.raises(ValidationError, match="8 weights"):
        Settings()

    bot = article_assistant
    default = bot.ask(QUESTION)
    bot.policy = bot.policy.model_copy(update={"evidence_weights": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)})
    longest_first = bot.ask(QUESTION)
    assert default.citations and longest_first.citations
    assert [c.quote for c in longest_first.citations] != [c.quote for c in default.citations]
