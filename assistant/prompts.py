"""Prompt templates live in the ``prompts`` package as files; their variables are checked when the app starts.

They are package data, read through importlib.resources, so an installed wheel has them too. langchain's
prompts (and the tracers they pull in) load only when a language model is configured: the extractive
answerer needs no prompt, and a cold CLI call would pay most of a second for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.prompts import PromptTemplate

PROMPTS_DIR = Path(str(files("prompts")))
EXPECTED_VARIABLES = {
    "system": set(),
    "answer": {"passages", "question"},
    "condense": {"history", "question"},
    "lead": {"evidence", "question"},
}


class PromptError(RuntimeError):
    """A prompt file is missing or does not use exactly the variables the code fills in."""


@dataclass(frozen=True)
class Prompts:
    system: str
    answer: PromptTemplate
    condense: PromptTemplate
    lead: PromptTemplate  # the short answer a small model writes above the extractive quotes


def load_prompts(folder: Path = PROMPTS_DIR) -> Prompts:
    from langchain_core.prompts import PromptTemplate

    templates = {}
    for name, expected in EXPECTED_VARIABLES.items():
        path = folder / f"{name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"prompt file {path} cannot be read: {exc}") from exc
        template = PromptTemplate.from_template(text)
        found = set(template.input_variables)
        if found != expected:
            raise PromptError(
                f"{path}: uses variables {sorted(found)}, the code fills in {sorted(expected)}"
            )
        templates[name] = template
    return Prompts(
        system=templates["system"].template.strip(), answer=templates["answer"], condense=templates["condense"],
        lead=templates["lead"],
    )
