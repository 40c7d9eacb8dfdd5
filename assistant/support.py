"""The support of a generated sentence: the sentences of its cited passages that hold it (``assistant.verify``).

Ranked by the pooled sentence vectors the store keeps, the closest sentence of each cited passage starts the
window; the next closest join it while they hold more of the claim's words; and a sentence of the same
paragraph (or one holding all the claim's words) joins it for a literal value the claim states (a setting's
default given a sentence later).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.claims import OPTION, WEEKDAYS, claimed, content_words, missing_values
from assistant.instructions import instruction_sentences
from assistant.questions import MONTHS, acronyms
from ingest.chunking import PARAGRAPH_BREAK
from ingest.records import Chunk


@dataclass(frozen=True, slots=True)
class Quote:
    chunk: Chunk
    start: int  # offsets in the source
    end: int
    text: str


def with_values_nearby(claim: str, window: list[Quote], missing: Sequence[str],
                       ranked: Sequence[tuple[float, Quote]], around: str) -> tuple[list[Quote], list[str]]:
    """The window joined by the sentences of its own paragraphs that hold literal values the claim states and the
    window lacks ("Specifies the number of password prompts before giving up. The argument to this keyword must
    be an integer. The default is 3."), so the quote shows the value. Literal values only (numbers, dates,
    options, paths): a setting's value follows the sentence that introduces it, while a proper name elsewhere
    in the paragraph names something else. A sentence outside the paragraph may join too when it holds every
    value of a claim that states three or more (found in the window or not: "from -131072 to 22 with 3 being the
    default" where the window's example had "--zl=22"), or every content word of the claim: in a list of
    settings the closest item may be a sibling's ("Default upper darkness threshold : 1" for "The default
    darkness threshold is 0.15"), while a value from an item that lacks the claim's words ("Black & white
    conversion threshold : 0.60") stays out. A sentence that also states numbers the claim
    does not is left out: it tells several values apart ("125 ..., because 126 and 127 are used by POSIX
    shells"), and the claim's may be the wrong one of them. Only the values are measured again: a sentence
    joined for a value is no reason to count the claim's words as supported. Returns the window and the values
    still missing."""
    said = claimed(claim).numbers
    names = [m for m in missing if not _literal(m)]
    literals = [m for m in missing if _literal(m)]
    paragraphs = [_paragraph_span(q) for q in window]
    wanted = content_words(claim)
    joined = list(window)
    for _, quote in sorted(ranked, key=lambda pair: (pair[1].chunk.source, pair[1].start)):
        if not literals:
            break
        inside = any(quote.chunk.id == q.chunk.id and start <= quote.start and quote.end <= end
                     for q, (start, end) in zip(window, paragraphs, strict=True))
        stated = claimed(quote.text).numbers
        if quote in joined or stated - said:
            continue
        many = len(said | set(literals)) >= _MANY_VALUES  # outside, a sentence may join for holding all of these
        lacks_words = not inside and bool(absent_words(wanted, quote.text))  # (or, a list item, every claim word)
        if lacks_words and not many:
            continue
        still = missing_values(claim, " ".join(q.text for q in [*joined, quote]), around)
        fewer = [m for m in still if _literal(m)]
        every_value = many and not fewer and said <= stated  # "Thu, 07 Apr 2005 22:13:13 +0200"
        if lacks_words and not every_value:
            continue
        if len(fewer) < len(literals):
            joined, literals = [*joined, quote], fewer
            if every_value:  # the claim's own sentence: the names it states are measured there too
                names = [m for m in names if m in still]
    return joined, [m for m in missing if m in names or m in literals]


_MANY_VALUES = 3  # values a sentence outside the window's paragraph must hold, all of them, to join for them
_ENTRY = re.compile(r"^\s*(?:[-*+\u2022]\s+)?(--?[A-Za-z][\w-]*)")  # an option opening an entry: "- --search file"
_SAYS_THE_SAME = 2  # content words of the claim a sibling entry holds for it to say what the claim says
_MOST_OF_IT = 0.5  # share of the claim's content words a sentence holds to say what the claim says


def swapped_entry(claim: str, window: Sequence[Quote]) -> str | None:
    """A claim that gives one entry's option what a sibling entry says: "dpkg --listfiles file (or -L) finds the
    package containing the file", supported by "--listfiles package (or -L), which lists the files installed by
    this package" and "--search file (or -S), which finds the package(s) containing the file". The option's own
    entry holds fewer of the claim's other words than an entry for an option the claim does not name, which
    holds two or more ("--max-depth=0 is the same as --summarize" is not beaten by "-b ... equivalent to ...")."""
    named = set(OPTION.findall(claim))
    if len(window) < 2 or not named:
        return None
    wanted = {s for _, s in content_words(OPTION.sub(" ", claim))}

    def covered(text: str) -> int:
        return len(wanted & {s for _, s in content_words(OPTION.sub(" ", text))})

    entries = [(found.group(1), set(OPTION.findall(q.text)), covered(q.text))
               for q in window if (found := _ENTRY.match(q.text))]
    for option, _, cover in entries:
        if option not in named:
            continue
        for other, others, other_cover in entries:
            if not others & named and other_cover > cover and other_cover >= _SAYS_THE_SAME:
                return f"gives {option} what the passage says of {other}"
    return None


def swapped_value(claim: str, window: Sequence[Quote]) -> str | None:
    """A claim that gives one sentence's number what a sibling sentence says of another: "a priority higher
    than 990 will always be installed, even if it forces a downgrade", supported by "990..1000 : will be
    installed except if the installed version is newer" and "> 1000 : will always be installed, even if it
    forces APT to downgrade". The sentence holding the claim's number holds less than half of the claim's
    words; a sentence that lacks that number and states another holds half or more. (Two sentences each holding
    about half, "has a priority of 100" and "has a priority of 500 by default", are a claim joining them.)"""
    said = claimed(claim).numbers
    wanted = {s for _, s in content_words(claim)}
    if len(window) < 2 or not said or not wanted:
        return None
    sentences = [(claimed(q.text).numbers, len(wanted & {s for _, s in content_words(q.text)}) / len(wanted))
                 for q in window]
    for numbers, share in sentences:
        for value in sorted(said & numbers):
            for others, other_share in sentences:
                if value not in others and others - said and share < _MOST_OF_IT <= other_share:
                    return f"gives {value} what the passage says of {min(others - said)}"
    return None


def _literal(value: str) -> bool:
    """A number, date, option or path (``missing_values`` gives these as "3", "april", "--soft", "/mode")."""
    return value[0].isdigit() or value[0] in "-/~." or value in MONTHS or value in WEEKDAYS


def _paragraph_span(quote: Quote) -> tuple[int, int]:
    """Source offsets of the paragraph (between blank lines, within its chunk) that holds ``quote``."""
    text, offset = quote.chunk.text, quote.chunk.start
    breaks = [m.end() for m in PARAGRAPH_BREAK.finditer(text, 0, quote.start - offset)]
    after = PARAGRAPH_BREAK.search(text, quote.end - offset)
    return offset + (breaks[-1] if breaks else 0), offset + (after.start() if after else len(text))


def absent_words(wanted: Sequence[tuple[str, str]], support: str) -> list[str]:
    have = {s for _, s in content_words(support)}
    return [w for w, s in wanted if s not in have]


def title_names(chunks: Sequence[Chunk]) -> list[str]:
    """What the cited documents are about, which a sentence may name without its passage repeating it: their
    titles' words, a hyphenated one by its parts ("git-config(1)": git, config), and the initials of a title's
    capitalised words ("Auto Multiple Choice": amc)."""
    titles = sorted({c.title for c in chunks if c.title})
    return [*(w for title in titles for w, _ in content_words(title)), *(a for t in titles for a in acronyms(t))]


def ranked_sentences(vector: np.ndarray, chunks: Sequence[Chunk],
                     sentence_vectors: Mapping[str, np.ndarray]) -> list[tuple[float, Quote]]:
    """Every sentence of the chunks the model was shown, closest to the claim first."""
    ranked = []
    for chunk in chunks:
        vectors = sentence_vectors.get(chunk.id)
        if vectors is None:
            continue
        withheld = instruction_sentences(chunk)  # never support: the model was not shown them
        for i, ((start, end), cosine) in enumerate(zip(chunk.sentences, vectors @ vector, strict=True)):
            if i not in withheld:
                quote = Quote(chunk, start, end, chunk.text[start - chunk.start : end - chunk.start])
                ranked.append((float(cosine), quote))
    ranked.sort(key=lambda pair: -pair[0])
    return ranked


def support_window(wanted: Sequence[tuple[str, str]], ranked: Sequence[tuple[float, Quote]], size: int,
                   floor: float) -> list[Quote]:
    """The closest sentence of each cited passage, joined by those of the next closest (at least ``floor`` close to
    the claim) that hold more of its words. Values are not a reason to join a sentence: a number or name found
    in some other sentence does not make the claim's one right."""
    window = [ranked[0][1]]
    for _, quote in ranked[1:]:  # a sentence citing several passages: the best of each
        if all(q.chunk.id != quote.chunk.id for q in window):
            window.append(quote)
    for _ in range(size - len(window)):
        support = " ".join(q.text for q in window)
        gap = len(absent_words(wanted, support))
        if gap == 0:
            break
        best, best_gap = None, gap
        for cosine, quote in ranked[1 : 2 + size * 2]:
            if quote in window or cosine < floor:
                continue
            new = len(absent_words(wanted, f"{support} {quote.text}"))
            if new < best_gap:
                best, best_gap = quote, new
        if best is None:
            break
        window.append(best)
    return window
