"""Each collection's abstention threshold, calibrated against a bank of off-topic questions shipped with the
product, so that "not about this" means the same on 20 chunks and on 100,000.

A fixed similarity threshold means nothing across collections: on a large collection some passage is
always a little like any question. So each collection measures it: for every question of the bank
(``assistant/data/off_topic_questions.txt``: everyday questions no document collection of ours answers)
the best sentence similarity the store offers, and the threshold is the quantile that lets at most
``AnswerPolicy.off_topic_rate`` of them through (default 5%). ``ASSISTANT_MIN_EVIDENCE`` stays the floor.

The calibration is redone when the store changes (its manifest stamp) and kept in
``data_dir/calibration.json``, so a one-shot CLI call reuses it; it costs one batched sentence search (the
bank's query vectors are cached with the model's).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from assistant.decision import AnswerPolicy
from store.collection import Collection
from store.files import write_json_atomically

log = logging.getLogger(__name__)
CALIBRATION_FILE = "calibration.json"


@lru_cache(maxsize=1)
def bank() -> tuple[str, ...]:
    text = files("assistant").joinpath("data", "off_topic_questions.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class Calibration:
    """Where off-topic questions land in one collection, for one state of its store."""

    revision: str  # the manifest stamp it was measured on
    rate: float
    threshold: float  # the bank's (1 - rate) quantile of best sentence similarity
    questions: int


def calibrate(collection: Collection, rate: float, revision: str) -> Calibration:
    scores = collection.best_sentence_scores(bank())
    threshold = float(np.quantile(scores, 1 - rate)) if scores else 0.0
    return Calibration(revision, rate, round(threshold, 4), len(scores))


class Thresholds:
    """The answer policy of one collection with its calibrated threshold, kept up to date with the store."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / CALIBRATION_FILE
        self._current: Calibration | None = None
        self._lock = threading.Lock()

    def policy(self, base: AnswerPolicy, collection: Collection) -> AnswerPolicy:
        if base.off_topic_rate is None:
            return base
        calibration = self.calibration(collection, base.off_topic_rate)
        if calibration.threshold <= base.min_evidence:
            return base
        return base.model_copy(update={"min_evidence": calibration.threshold})

    def calibration(self, collection: Collection, rate: float) -> Calibration:
        """Up to date with the store as this process last saw it (each answer looks first), so the hot path
        asks the store nothing more."""
        manifest = collection.manifest
        revision = str(manifest.last_stamp if manifest.last_stamp is not None else manifest.stamp())
        with self._lock:
            known = self._current or self._load()
            if known is None or known.revision != revision or known.rate != rate:
                known = calibrate(collection, rate, revision)
                log.info("calibrated %s: off-topic threshold %.3f", self.path.parent, known.threshold)
                self._save(known)
            self._current = known
            return known

    def _load(self) -> Calibration | None:
        try:
            return Calibration(**json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, calibration: Calibration) -> None:
        """Best effort (a read-only data dir still answers)."""
        try:
            write_json_atomically(self.path, asdict(calibration))
        except OSError as exc:
            log.warning("cannot keep the calibration in %s: %s", self.path, exc)
