"""Deterministic synthetic Markdown documents for the benches.

Each document has YAML front matter (title), a lead paragraph and 2-4 ``##`` sections of 1-2
paragraphs; a paragraph is about 160 words (about one chunk). Words come from a fixed pseudo-word
vocabulary (Zipf-distributed, so BM25 sees realistic posting-list lengths) mixed with English
function words, a few numbers and years. Document ``i`` depends only on (seed, i), so the first
1,000 documents of a 10,000-document set are the 1,000-document set.

    .venv/bin/python bench/synthetic.py OUT_DIR [N] [SEED]
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
from functools import lru_cache
from pathlib import Path

VOCABULARY_SIZE = 20_000
PARAGRAPH_WORDS = 160
DEFAULT_SEED = 1234

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ea")]
_CODAS = ["", "", "", "n", "r", "s", "l", "t", "m", "nd", "st", "ck"]
_FUNCTION_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have "
    "an they you were their one all we can her has there been if more when will would who so no"
).split()


@lru_cache(maxsize=4)
def vocabulary(seed: int = DEFAULT_SEED) -> tuple[list[str], list[float]]:
    """``VOCABULARY_SIZE`` distinct pseudo-words and their cumulative Zipf weights."""
    rng = random.Random(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 2, 3)))) + rng.choice(_CODAS)
        if len(word) > 2 and word not in seen:
            seen.add(word)
            words.append(word)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(VOCABULARY_SIZE)))
    return words, cumulative


class _Writer:
    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.words, self.cumulative = vocabulary(seed)
        # each document leans on a few topic words, so documents differ from one another
        self.topic = [self._content_word() for _ in range(8)]

    def _content_word(self) -> str:
        x = self.rng.random() * self.cumulative[-1]
        return self.words[min(bisect.bisect_left(self.cumulative, x), VOCABULARY_SIZE - 1)]

    def _word(self) -> str:
        r = self.rng.random()
        if r < 0.38:
            return self.rng.choice(_FUNCTION_WORDS)
        if r < 0.46:
            return self.rng.choice(self.topic)
        if r < 0.475:
            return str(self.rng.choice((self.rng.randint(2, 999), self.rng.randint(1950, 2030))))
        return self._content_word()

    def sentence(self) -> str:
        n = self.rng.randint(8, 30)
        words = [self._word() for _ in range(n)]
        words[0] = words[0].capitalize()
        if n > 14 and self.rng.random() < 0.5:
            words[n // 2] += ","
        return " ".join(words) + self.rng.choice(".........?!")

    def paragraph(self, target: int = PARAGRAPH_WORDS) -> str:
        sentences, count = [], 0
        while count < target:
            s = self.sentence()
            sentences.append(s)
            count += s.count(" ") + 1
        return " ".join(sentences)

    def heading(self) -> str:
        return " ".join(self._content_word() for _ in range(self.rng.randint(2, 5))).title()


def document(i: int, seed: int = DEFAULT_SEED) -> tuple[str, str]:
    """(file name, Markdown text) of synthetic document ``i``."""
    rng = random.Random(seed * 1_000_003 + i)
    w = _Writer(rng, seed)
    title = w.heading()
    parts = [f"---\ntitle: {title} {i}\n---\n", w.paragraph(rng.randint(100, PARAGRAPH_WORDS))]
    for _ in range(rng.randint(2, 4)):
        parts.append(f"## {w.heading()}")
        parts.extend(w.paragraph(rng.randint(130, 190)) for _ in range(rng.randint(1, 2)))
    return f"doc-{i:06d}.md", "\n\n".join(parts) + "\n"


def write_corpus(folder: str | Path, n: int, seed: int = DEFAULT_SEED, start: int = 0) -> list[Path]:
    """Write documents ``start .. start+n-1`` into ``folder`` (files already there are rewritten identically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        name, text = document(i, seed)
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    seed_arg = int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_SEED
    written = write_corpus(out, count, seed_arg)
    words = sum(len(p.read_text(encoding="utf-8").split()) for p in written)
    print(f"wrote {len(written)} documents ({words:,} words) to {out}")
