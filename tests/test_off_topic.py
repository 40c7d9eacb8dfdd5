"""Each collection's off-topic threshold: measured against the shipped question bank, kept with the store's
state, and never below ASSISTANT_MIN_EVIDENCE."""

from __future__ import annotations

import json

from assistant.off_topic import CALIBRATION_FILE, bank


def test_the_bank_ships_with_the_package_and_holds_everyday_questions():
    questions = bank()
    assert len(questions) >= 50 and all(q.endswith("?") for q in questions)


def test_a_collection_is_calibrated_once_per_state_of_its_store(article_assistant, tmp_path):
    bot = article_assistant
    policy = bot.thresholds.policy(bot.policy, bot.collection)
    saved = json.loads((bot.settings.data_dir / CALIBRATION_FILE).read_text(encoding="utf-8"))
    assert saved["revision"] == str(bot.collection.manifest.stamp()) and saved["questions"] == len(bank())
    assert policy.min_evidence == max(bot.policy.min_evidence, saved["threshold"]), "the floor holds"
    note = tmp_path / "everyday.md"
    note.write_text("# Everyday\n\nRoast a whole chicken for about 90 minutes at 200 degrees. Cats purr when "
                    "they are content. The Moon is about 384,000 km away from the Earth. Water boils at about "
                    "70 degrees on the top of Mount Everest. Bees make honey from nectar.\n", encoding="utf-8")
    bot.ingest([note])
    raised = bot.thresholds.policy(bot.policy, bot.collection)
    after = json.loads((bot.settings.data_dir / CALIBRATION_FILE).read_text(encoding="utf-8"))
    assert after["revision"] != saved["revision"], "a changed store is measured again"
    assert after["threshold"] > saved["threshold"] and raised.min_evidence == after["threshold"] > 0.22
    unbounded = bot.policy.model_copy(update={"off_topic_rate": None})
    assert bot.thresholds.policy(unbounded, bot.collection) is unbounded

