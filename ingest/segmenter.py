"""pysbd's English segmenter, with the same output at a fraction of its cost.

pysbd (0.3.4) spends most of its time compiling regular expressions, not matching them: it builds a
pattern per abbreviation and per sentence at run time, more than Python's 512-entry ``re`` cache holds,
so the same patterns are compiled again and again (most of chunking time on a 300-document
ingest, ``bench/ingest_bench.py``). Two changes, both checked to give identical spans on every
benchmark document (``tests/test_chunking.py``):

- sentences are located in the original text with ``str.find`` instead of a fresh
  ``re.escape(sentence) + r"\\s*"`` pattern per sentence, keeping pysbd's rule (the first
  non-overlapping occurrence that ends after the previous sentence);
- pysbd's modules see a ``re`` whose compiled patterns live in a larger, bounded cache.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from types import ModuleType
from typing import Any

_PATTERN_CACHE = 4096  # pysbd's English rules and per-abbreviation patterns: about 1,500 in all


@lru_cache(maxsize=_PATTERN_CACHE)
def _compiled(pattern: Any, flags: int = 0) -> re.Pattern:
    return re.compile(pattern, flags)


class _CachedRe(ModuleType):
    """The subset of ``re`` pysbd calls, compiling through :func:`_compiled`."""

    def __getattr__(self, name: str) -> Any:  # constants, escape, Pattern, ...
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> re.Pattern:
        return _compiled(pattern, flags)

    @staticmethod
    def sub(pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> str:
        return _compiled(pattern, flags).sub(repl, string, count)

    @staticmethod
    def search(pattern: Any, string: str, flags: int = 0) -> re.Match | None:
        return _compiled(pattern, flags).search(string)

    @staticmethod
    def match(pattern: Any, string: str, flags: int = 0) -> re.Match | None:
        return _compiled(pattern, flags).match(string)

    @staticmethod
    def findall(pattern: Any, string: str, flags: int = 0) -> list[Any]:
        return _compiled(pattern, flags).findall(string)

    @staticmethod
    def finditer(pattern: Any, string: str, flags: int = 0):
        return _compiled(pattern, flags).finditer(string)

    @staticmethod
    def split(pattern: Any, string: str, maxsplit: int = 0, flags: int = 0) -> list[Any]:
        return _compiled(pattern, flags).split(string, maxsplit)


def _install_cached_re() -> None:
    cached = _CachedRe("re")
    for name, module in list(sys.modules.items()):
        if name.startswith("pysbd") and getattr(module, "re", None) is re:
            module.re = cached  # type: ignore[attr-defined]


def _occurrence_after(text: str, sentence: str, prior_end: int) -> tuple[int, int] | None:
    """Where pysbd's ``finditer(escape(sentence) + r"\\s*")`` loop would place ``sentence``."""
    if not sentence:  # an empty pattern matches everywhere: pysbd's own regex loop, for exactness
        found = (m.span() for m in re.finditer(r"\s*", text) if m.end() > prior_end)
        return next(found, None)
    position = 0
    while (start := text.find(sentence, position)) >= 0:
        end = start + len(sentence)
        while end < len(text) and text[end].isspace():
            end += 1
        if end > prior_end:
            return start, end
        position = end  # finditer goes on after the match it passed over
    return None


def english_segmenter():
    """A pysbd ``Segmenter`` (English, char spans, no cleaning) that locates sentences without regexes."""
    import pysbd
    from pysbd.utils import TextSpan

    _install_cached_re()

    class _Segmenter(pysbd.Segmenter):
        def sentences_with_char_spans(self, sentences: list[str]) -> list[TextSpan]:
            spans, prior_end = [], 0
            for sentence in sentences:
                found = _occurrence_after(self.original_text, sentence, prior_end)
                if found:
                    start, prior_end = found
                    spans.append(TextSpan(self.original_text[start:prior_end], start, prior_end))
            return spans

    return _Segmenter(language="en", clean=False, char_span=True)
