"""The verification benchmark's rows: one generated sentence each, faithful or wrong in a named way.

``benchmarks/<collection>/verification.jsonl`` holds them (``verification-holdout.jsonl``: more of them,
written after the verifier's rules were, to check those rules on sentences they were not written against).
``[k]`` in ``answer`` cites ``cites[k-1]``, a string that lies inside one chunk of the collection (the passage
the sentence cites). A ``wrong_citation`` row's fact is true but its citation is not: ``supported_by`` names
the passage that does hold it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CLAIMS_FILE = "verification.jsonl"  # each collection's set
HOLDOUT_FILE = "verification-holdout.jsonl"  # rows written after the verifier's rules, one of each kind
HOLDOUT2_FILE = "verification-holdout2.jsonl"  # two of each kind, by a writer who read none of the rules
FAITHFUL_KINDS = ("numbers_as_words", "date_format", "synonym", "reordered", "merged")
WRONG_KINDS = ("wrong_number", "wrong_date", "wrong_name", "contradiction", "addition", "wrong_citation",
               "no_citation", "outside_knowledge")
ClaimKind = Literal["numbers_as_words", "date_format", "synonym", "reordered", "merged", "wrong_number",
                    "wrong_date", "wrong_name", "contradiction", "addition", "wrong_citation", "no_citation",
                    "outside_knowledge"]


class ClaimRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: ClaimKind
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="One generated sentence with [k] markers.")
    cites: list[str] = Field(default_factory=list)
    supported_by: list[str] = Field(default_factory=list)
    note: str = ""

    @property
    def faithful(self) -> bool:
        return self.kind in FAITHFUL_KINDS

    @model_validator(mode="after")
    def _consistent(self) -> ClaimRow:
        from assistant.records import MARKER

        numbers = {int(n) for n in MARKER.findall(self.answer)}
        if self.kind == "no_citation":
            if numbers:
                raise ValueError(f"{self.id}: a no_citation sentence has no [k] marker")
        elif not numbers or not numbers <= set(range(1, len(self.cites) + 1)):
            raise ValueError(f"{self.id}: markers {sorted(numbers)} do not match {len(self.cites)} cites")
        if self.kind == "merged" and len(numbers) < 2:
            raise ValueError(f"{self.id}: a merged sentence cites two passages")
        if (self.kind == "wrong_citation") != bool(self.supported_by):
            raise ValueError(f"{self.id}: supported_by is for wrong_citation rows, and they need it")
        return self


def load_claims(path: Path) -> list[ClaimRow]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(ClaimRow.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc
    ids = [r.id for r in rows]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate ids")
    return rows
