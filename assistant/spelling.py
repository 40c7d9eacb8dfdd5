"""Misspelled question words corrected against the collection's own words before anything is searched.

Dense retrieval tolerates a typo ("wat port does ssh conect to by defualt"), but BM25 finds nothing for a word
no chunk holds and the evidence scorer counts it as a question term the sentence lacks: both work against
the passage. A question word is corrected when

- it is lower case and letters only, four letters or more (names, options, paths and numbers stay as written);
- neither the collection nor the encoder's vocabulary knows it: an English word the documents do not use is a
  question about something else, not a typo ("boil" stays "boil"); nor is it another form of a word within
  reach ("separators" where the documents say "separator");
- a word of the collection lies within one edit of it (two from eight letters on; swapping two letters is one
  edit; a word under six letters only by a dropped letter or a swap) and starts with the same letter.

The closest candidate wins, then one the typo dropped a letter from (the commonest typo: "conect"), then the
one most chunks hold. Nothing here is fitted: the edit limits are those of spelling correctors in general.

An acronym the collection never writes ("ECHR") is searched with what it stands for there: the commonest run of
capitalised words whose initials spell it ("European Court of Human Rights"), found in the stored texts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass

from assistant.questions import NAME_CONNECTORS, STOPWORDS, is_acronym, singular, specifics, stem

MIN_LETTERS = 4  # shorter words are too close to too many others ("wat": what, was, way)
SHORT_WORD = 6  # below this length only a dropped letter or a swap is corrected (_slip)
LONG_WORD = 8  # from this length on a word may be two edits away
_WORD = re.compile(r"(?<![\w./-])[a-z]+(?![\w/-]|\.\w)")


@dataclass(frozen=True, slots=True)
class Correction:
    word: str
    replacement: str


def corrections(text: str, vocabulary: Mapping[str, int], english: Set[str]) -> list[Correction]:
    """The corrections ``text`` needs, in order (none when every word is known)."""
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    found: list[Correction] = []
    for word in dict.fromkeys(m.group(0) for m in _WORD.finditer(text)):
        if not _is_unknown(word, vocabulary, english):
            continue
        limit = 1 if len(word) < LONG_WORD else 2
        near = process.extract(word, _by_initial(vocabulary).get(word[0], ()), scorer=DamerauLevenshtein.distance,
                               score_cutoff=limit, limit=None)
        candidates = [(w, d) for w, d, _ in near if len(word) >= SHORT_WORD or _slip(word, w)]
        if not candidates or any(stem(w) == stem(word) for w, _ in candidates):
            continue  # "separators" where the documents say "separator": another form of a known word
        best, _ = min(candidates, key=lambda c: (c[1], len(c[0]) <= len(word), -vocabulary[c[0]], c[0]))
        found.append(Correction(word, best))
    return found


def corrected(text: str, vocabulary: Mapping[str, int], english: Set[str]) -> str:
    """``text`` with its misspelled words replaced by the collection's (unchanged when there are none)."""
    fixes = {c.word: c.replacement for c in corrections(text, vocabulary, english)}
    return _WORD.sub(lambda m: fixes.get(m.group(0), m.group(0)), text) if fixes else text


_last: tuple[Mapping[str, int], dict[str, list[str]]] | None = None  # the last vocabulary, by first letter


def _by_initial(vocabulary: Mapping[str, int]) -> dict[str, list[str]]:
    """The vocabulary's words by first letter, kept for the vocabulary last asked about (the store builds a new
    one when it changes): a typo is looked up among ~1/20 of the words. One reference, read and replaced whole,
    so threads asking about different collections never mix them up."""
    global _last
    cached = _last
    if cached is not None and cached[0] is vocabulary:
        return cached[1]
    grouped: dict[str, list[str]] = {}
    for word in vocabulary:
        grouped.setdefault(word[0], []).append(word)
    _last = (vocabulary, grouped)
    return grouped


def _slip(word: str, candidate: str) -> bool:
    """A dropped letter ("chek": check) or two letters swapped ("waht": what): the typos a short word is
    corrected for; another letter in its place is as often another word ("grep" is not "grew")."""
    return len(candidate) == len(word) + 1 or (len(candidate) == len(word) and sorted(candidate) == sorted(word))


def _is_unknown(word: str, vocabulary: Mapping[str, int], english: Set[str]) -> bool:
    return len(word) >= MIN_LETTERS and word not in vocabulary and word not in english and word not in STOPWORDS


def with_acronyms_spelled_out(text: str, vocabulary: Mapping[str, int],
                              find: Callable[[re.Pattern[str], int], list[str]]) -> str:
    """``text`` with "(what it stands for)" after each acronym the collection does not write but spells out."""
    spelled = {}
    for word in specifics(text):
        letters = singular(word)  # "PDFs"
        if is_acronym(word) and letters.lower() not in vocabulary:
            found = Counter(" ".join(m.split()) for m in find(_initials_pattern(letters), _MATCHES))
            if found:
                spelled[word] = found.most_common(1)[0][0]
    return text + "".join(f" ({long})" for long in spelled.values()) if spelled else text


_MATCHES = 50
# the connectors of a name, and "and", which joins two names inside a long form ("Bosnia and Herzegovina")
_CONNECTOR = r"(?:\s+(?:" + "|".join(sorted(NAME_CONNECTORS | {"and"})) + r"))*\s+"


def _initials_pattern(letters: str) -> re.Pattern[str]:
    """Capitalised words whose initials are ``letters``, connectors allowed between them ("Court of Human")."""
    return re.compile(r"\b" + _CONNECTOR.join(f"{c}[a-z][\\w'’-]*" for c in letters.upper()) + r"\b")
