"""What a generated sentence claims, compared with the passage text that should support it, without a model.

- Values: numbers compared as values, whichever way they are written ("forty" = "40", "1,000" = "1000",
  "18th" = "18"); dates by their parts, so "May 18", "18 May" and "2022-05-18" agree and "early April 2022"
  holds "April 2022"; times of day by their 24-hour readings ("7:25 pm" = "19:25", and not "7:25 am"); an
  amount with a unit in the other units of its kind too ("5.8cm" holds "58 mm", ``assistant.amounts``).
- Names: capitalised words and code-like tokens (``--soft``, ``/etc/passwd``, ``git-reset``) compared folded,
  without possessives or plural "s" ("F-16s" = "F-16", "Coşkun's" = "Coskun").
- Polarity: a negation or an antonym on one side only ("did not", "failed" against "succeeded").

The antonym pairs are general English, not drawn from any collection. Where an NLI model becomes
available it can replace ``contradiction`` (same arguments, a reason or None).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from assistant.amounts import NUMBER_WORD, ORDINALS, UNIT_SIZES, is_number, quantity_values, word_value
from assistant.questions import MONTHS, STOPWORDS, fold, stem, words

_DIGITS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?!\d|,\d)|\d+(?:\.\d+)*")  # "4,095," is 4095
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# a time of day ("7:25 pm", "19:25", "8 am"): compared by its 24-hour readings as well as by its numbers
_TIME = re.compile(r"(?<![\d:.])(\d{1,2})(?::([0-5]\d))?(?:\s*([ap])\.?m\b\.?|(?![\d:]))", re.IGNORECASE)
_CODE = re.compile(r"(?<![\w/.-])(?:--?[A-Za-z][\w-]*|[\w.~-]*/[\w./~-]+|[a-z]\w*[._+]\w[\w.+-]*|[a-z]+-\d[\w.-]*)")
_VERSION = re.compile(r"v\d[\d.]*", re.IGNORECASE)  # "v2.0": a number, compared as one
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTH_ABBREVIATIONS = {m[:3]: m for m in [*MONTHS, *WEEKDAYS]}
NEGATIONS = frozenset("""not no never neither nor none nothing nobody cannot can't don't doesn't didn't isn't aren't
    wasn't weren't won't wouldn't shouldn't couldn't hasn't haven't hadn't without unable fails failed fail failing
    refuses refused lacks lacked""".split())
_ANTONYMS = [("succeed", "fail"), ("success", "failur"), ("increas", "decreas"), ("enabl", "disabl"),
             ("allow", "forbid"), ("allow", "prevent"), ("permit", "forbid"), ("requir", "option"),
             ("mandatori", "option"), ("befor", "after"), ("more", "less"), ("more", "fewer"),
             ("higher", "lower"), ("larger", "smaller"), ("bigger", "smaller"), ("maximum", "minimum"),
             ("largest", "smallest"), ("biggest", "smallest"), ("highest", "lowest"), ("most", "least"),
             ("add", "remov"), ("includ", "exclud"), ("accept", "reject"), ("start", "stop"), ("open", "close"),
             ("true", "fals"), ("alway", "never"), ("first", "last"), ("abov", "below"), ("insid", "outsid"),
             ("local", "remot"), ("improv", "worsen"), ("strengthen", "weaken"), ("agre", "disagre"),
             ("same", "differ"), ("posit", "negat"), ("earli", "later"), ("older", "newer"), ("oldest", "newest"),
             ("begin", "end"), ("ascend", "descend"), ("upper", "lower"), ("input", "output"), ("read", "write"),
             ("encrypt", "decrypt"), ("compress", "decompress"), ("overwrit", "preserv"), ("keep", "discard"),
             ("keep", "delet"), ("ignor", "respect"), ("visibl", "hidden"), ("public", "privat"),
             ("synchron", "asynchron"), ("forward", "backward"), ("win", "lose"), ("rise", "fall"),
             ("strong", "weak"), ("hard", "soft"), ("fast", "slow"), ("support", "oppos"), ("approv", "reject"),
             ("resolv", "fail")]
ANTONYMS: dict[str, frozenset[str]] = {}
for _a, _b in _ANTONYMS:
    ANTONYMS[_a] = ANTONYMS.get(_a, frozenset()) | {_b}
    ANTONYMS[_b] = ANTONYMS.get(_b, frozenset()) | {_a}


@dataclass(frozen=True, slots=True)
class Claimed:
    """The checkable content of a text: its values, names and content stems."""

    numbers: frozenset[str]
    months: frozenset[str]
    names: frozenset[str]
    stems: tuple[str, ...]


@lru_cache(maxsize=8192)
def claimed(text: str) -> Claimed:
    folded = fold(text)
    iso = [m.groups() for m in _ISO_DATE.finditer(folded)]
    plain = _ISO_DATE.sub(" ", folded)
    numbers = {_number(m.group(0)) for m in _DIGITS.finditer(plain)}
    numbers |= {str(word_value(m.group(0))) for m in NUMBER_WORD.finditer(plain)}
    numbers |= {str(int(p)) for y, mo, d in iso for p in (y, d)}
    lowered = [w.lower().rstrip(".") for w in words(plain)]
    months = {_MONTH_ABBREVIATIONS.get(w, w) for w in [*lowered, *_date_parts(lowered)]
              if w in MONTHS or w in WEEKDAYS or w in _MONTH_ABBREVIATIONS}
    months |= {MONTHS[int(mo) - 1] for _, mo, _ in iso if 1 <= int(mo) <= 12}
    months -= {"may"} if "May" not in plain and not iso else set()  # "may" the verb
    numbers |= {str(v) for w, v in ORDINALS.items()  # "third-largest"; "the first of May"
                if any(t.startswith(w + "-") or (t == w and months) for t in lowered)}
    return Claimed(frozenset(n for n in numbers if n), frozenset(months), frozenset(_names(plain)),
                   tuple(dict.fromkeys(stem(w) for w in lowered if w not in STOPWORDS and not is_number(w))))


def _date_parts(lowered: list[str]) -> list[str]:
    """The parts of a date written as one hyphenated word ("1-jan-1970", "7-feb-2106"): a month among numbers."""
    return [part for token in lowered if "-" in token and any(c.isdigit() for c in token)
            for part in token.split("-")]


def _number(token: str) -> str:
    token = token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token) else token
    return str(int(token)) if token.isdigit() else token


def _names(folded: str) -> set[str]:
    """Capitalised words past a sentence start and code-like tokens, without possessive or plural "s"."""
    found = {_bare(m.group(0)) for m in _CODE.finditer(folded) if not _VERSION.fullmatch(m.group(0).strip(".,"))}
    for i, match in enumerate(re.finditer(r"[^\W_]+(?:[-'’][^\W_]+)*", folded)):
        word = match.group(0)
        before = folded[: match.start()].rstrip()
        starts_sentence = i == 0 or before.endswith((".", "!", "?", ":", "\n"))
        if word[:1].isupper() and not starts_sentence and word.lower() not in STOPWORDS \
                and word.lower() not in MONTHS and word.lower() not in WEEKDAYS and len(word) > 1 \
                and word.lower() not in UNIT_SIZES:  # "MiB" is a unit, not a name
            parts = word.split("-")  # "Russia-reliant" names Russia; "F-16" and "Turkey-Syria" are names whole
            named = [p for p in parts if p[:1].isupper() or p[:1].isdigit()]
            found |= {_bare(word)} if len(named) == len(parts) else {_bare(p) for p in named}
    return {n for n in found if n}


def _bare(name: str) -> str:
    if re.fullmatch(r"-[^\W_]", name.strip(".,;:")):  # "-J" and "-j" are different options
        return name.strip(".,;:")
    name = re.sub(r"['’]s?$", "", name.strip(".,;:")).lower()
    return name[:-1] if len(name) > 3 and name.endswith("s") and not name.endswith("ss") else name


def missing_values(claim: str, support: str, context: str = "", known_words: frozenset[str] = frozenset()) -> list[str]:
    """The claim's numbers and months that the support text does not hold (compared as values), and its names
    that neither the support nor ``context`` (the passage around it, its title and section) holds. With
    ``known_words`` (the English the encoder knows), a lower-case identifier of the claim that stands where the
    support has a different one is a name too (``near_misses``)."""
    said, held = claimed(claim), claimed(support)
    named = f"{support} {context}"
    held = Claimed(held.numbers | quantity_values(support), held.months, held.names | claimed(named).names,
                   held.stems)
    support_words = {_bare(w) for w in words(fold(named))} | {stem(w.lower()) for w in words(fold(named))}
    missing = sorted(said.numbers - held.numbers) + sorted(said.months - held.months) + _missing_times(claim, support)
    for name in sorted((said.names | near_misses(claim, named, known_words)) - held.names):
        parts = [p for p in re.split(r"[-/.]", name) if p]
        if name not in support_words and not (len(parts) > 1 and all(_bare(p) in support_words for p in parts)):
            missing.append(name)
    return missing


def times_of_day(text: str) -> list[tuple[str, frozenset[str]]]:
    """Each time of day in ``text`` ("7:25 pm", "19:25", "8 am") with the 24-hour readings it may have: one when it
    says am or pm or is past 12, both halves of the day when it says neither ("7:25")."""
    found = []
    for match in _TIME.finditer(text):
        hour, minute, half = int(match.group(1)), match.group(2), (match.group(3) or "").lower()
        if not (minute or half) or hour > 23 or (half and not 1 <= hour <= 12):
            continue  # a bare number is no time; "25 pm" is none either
        if half:
            readings = {hour % 12 + (12 if half == "p" else 0)}
        else:
            readings = {hour} if hour == 0 or hour > 12 else {hour % 12, hour % 12 + 12}
        said = f"{hour}:{minute or '00'}" + (f" {half}m" if half else "")
        found.append((said, frozenset(f"{h:02d}:{minute or '00'}" for h in readings)))
    return found


def _missing_times(claim: str, support: str) -> list[str]:
    """The claim's times of day that no time of the support can be read as ("7:25 am" against "7:25 pm")."""
    held = frozenset().union(*(readings for _, readings in times_of_day(support)))
    return [said for said, readings in times_of_day(claim) if not readings & held]


def near_misses(claim: str, support: str, known_words: frozenset[str]) -> set[str]:
    """Lower-case identifiers of the claim that are no English word, that the support lacks, and that stand where
    the support has another such identifier starting alike, next to the same content word: "the netadmin group"
    where the passage says "the netdev group", "$ModLoad imtcp" for "$ModLoad imudp". A model that swaps one
    made-up name for another leaves no capital to catch it by."""
    if not known_words:
        return set()
    said, there = _slots(claim), _slots(support)
    found = set()
    for word, neighbours in said.items():
        if word in there or len(word) < 4 or not word.islower() or _english(word, known_words):
            continue
        if any(other != word and other[:2] == word[:2] and neighbours & around and stem(other) != stem(word)
               and len(other) >= 4 and not _english(other, known_words) for other, around in there.items()):
            found.add(word)
    return found


def _slots(text: str) -> dict[str, set[str]]:
    """Each alphanumeric run of ``text`` (as written: "findutils-4.5.12" holds "findutils") with the content words
    just before and after it."""
    tokens = re.findall(r"[^\W_]+", fold(text))
    slots: dict[str, set[str]] = {}
    for i, word in enumerate(tokens):
        near = {t.lower() for t in tokens[max(i - 1, 0) : i] + tokens[i + 1 : i + 2]}
        slots.setdefault(word, set()).update(n for n in near if n not in STOPWORDS and len(n) > 2)
    return slots


def _english(word: str, known_words: frozenset[str]) -> bool:
    """Is ``word`` or a form of it ("deletes": "deleted") one the encoder's vocabulary holds whole?"""
    bases = {word} | {word[: -len(end)] + add for end, add in _ENDINGS
                      if word.endswith(end) and len(word) > len(end) + 2}
    return any(f"{base}{end}" in known_words for base in bases for end in ("", "s", "d", "ed", "ing", "e"))


_ENDINGS = (("s", ""), ("es", ""), ("ed", ""), ("ed", "e"), ("d", ""), ("ing", ""), ("ing", "e"), ("ly", ""),
            ("er", ""), ("ies", "y"), ("ied", "y"))


def contradiction(claim: str, support: str, close: Callable[[str, set[str]], bool] | None = None) -> str | None:
    """Why the claim reverses its support text (a negation or antonym on one side only), or None.

    A negation counts where it bears on what both sides say: the word it negates is on the other side too
    (the same stem, or ``close`` to one of its words: "bring" and "brought").
    """
    claim_words, support_words = _prose_words(claim), _prose_words(support)
    claim_stems, support_stems = {stem(w) for w in claim_words}, {stem(w) for w in support_words}
    negated_claim = _negations(claim_words, support_words, close) if not _hedged(support_words, claim_words) else []
    if negated_claim:
        return f"negates the passage ({negated_claim[0]!r})"
    negated_support = _negations(support_words, claim_words, close) if not _hedged(claim_words, support_words) else []
    if negated_support:
        return f"drops the passage's negation ({negated_support[0]!r})"
    return _antonym(claim_stems, support_stems, _said_otherwise(claim_words, support_words, close)) \
        or _swapped_in_a_clause(claim, support)


def _antonym(said: set[str], held: set[str], otherwise: Callable[[str, set[str]], bool] | None = None) -> str | None:
    """A stem of ``said`` whose opposite ``held`` has and ``said`` lacks ("a soft and a hard limit" names both),
    unless the support says that word in other words (``otherwise``)."""
    for word in said - held:
        opposite = (ANTONYMS.get(word, frozenset()) & held) - said
        if opposite and not (otherwise and otherwise(word, opposite)):
            return f"says {word!r} where the passage says {sorted(opposite)[0]!r}"
    return None


def _said_otherwise(claim_words: list[str], support_words: list[str],
                    close: Callable[[str, set[str]], bool] | None) -> Callable[[str, set[str]], bool] | None:
    """Whether the support says a claim word (by its stem) with a close word that is not one of its opposites:
    "autoclean deletes only packages that ..." against "autoclean only removes packages that ... APT keeps a copy
    of each downloaded file" says "removes" for "deletes"; the "keeps" is about something else."""
    if close is None:
        return None
    content = {w for w in support_words if w not in STOPWORDS}

    def otherwise(claim_stem: str, opposite: set[str]) -> bool:
        others = {w for w in content if stem(w) not in opposite and stem(w) != claim_stem}
        return any(close(w, others) for w in claim_words if stem(w) == claim_stem)

    return otherwise


def _swapped_in_a_clause(claim: str, support: str) -> str | None:
    """An antonym against the support clause that says the same thing: both sides may name both opposites
    ("desirable on slow connections, but slows down fast networks" against "desirable on fast networks, but
    slows down slow connections") while each clause says the reverse of its counterpart."""
    support_clauses = [set(_stems(c)) for c in _CONTRAST.split(support)]
    for clause in _CONTRAST.split(claim):
        own = set(_stems(clause))
        counterpart = max(support_clauses, key=lambda other: len(own & other), default=set())
        swapped = _antonym(own, counterpart) if len(own & counterpart) >= 2 else None
        if swapped:
            return swapped
    return None


_CONTRAST = re.compile(r"[;:]\s|[.!?](?=\s)|,?\s(?:but|whereas|while|however|although)\s|,\sand\s", re.IGNORECASE)


def _stems(text: str) -> list[str]:
    return [stem(w) for w in _prose_words(text) if w not in STOPWORDS]


OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")  # "--no-checkout", "-P"
# an option names a setting and states nothing: "--color=never" negates nothing, and "--no-checkout is assumed"
# does not say "checkout" against a passage's "Do not checkout"
_OPTION_SETTING = re.compile(OPTION.pattern + r"(?:=\S+)?")


def _prose_words(text: str) -> list[str]:
    return [w.lower() for w in words(_OPTION_SETTING.sub(" ", text))]


def _negations(tokens: list[str], others: list[str], close: Callable[[str, set[str]], bool] | None) -> list[str]:
    """The negations of ``tokens`` that the other side does not share: the negated word (the first content word
    after the negation) is on the other side too (same stem, or ``close``), but not negated there. "is not
    removed" bears on a claim about removing, not on one that only shares a later noun."""
    other_stems = {stem(t) for t in others}
    other_words = {t for t in others if t not in STOPWORDS}
    negated_there = _negated_scope(others)
    negated_stems = {stem(t) for t in negated_there}
    found = []
    for token, negated, scope in _negated_words(tokens):
        if stem(negated) in negated_stems or (close and close(negated, negated_there)):
            continue  # the other side says "not" about the same thing, in its own words
        if len({stem(w) for w in scope} & negated_stems) >= _SAME_OBJECT:
            continue  # "will not overwrite existing files" / "Don't replace existing files": another verb, same object
        if not is_negation(token) and negated in tokens:
            continue  # "installed" and "non-installed" versions: this side names a kind and its complement
        if stem(negated) in other_stems or (close and close(negated, other_words)):
            found.append(token)
    return found


HEDGES = frozenset("rather instead unless except only omit omitted omits absent missing lack lacks neither nor "
                   "otherwise prevent prevents prevented preventing avoid avoids avoided avoiding".split())
# a negation said another way ("rather than", "if omitted", "prevents it", "keeps AMC from adding")
_KEEPS_FROM = frozenset("keep keeps kept keeping stop stops stopped stopping".split())


def _hedged(tokens: list[str], others: list[str]) -> bool:
    """Does this side say "not" another way (a hedge or a negating prefix), so that a negation on the other side
    may be the same statement worded differently? A plain negation excuses only a negation of the same thing
    (``_negations``): "no external software is needed" does not excuse "does not create". A prefixed word the
    other side says too is no other way: "df can show unmounted file systems" does not excuse "cannot show"."""
    return any(t in HEDGES or (_negated_by_prefix(t) and t not in others)
               or (t in _KEEPS_FROM and "from" in tokens[i + 1 : i + 4]) for i, t in enumerate(tokens))


def is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith(("n't", "n’t"))


def _negated_words(tokens: list[str]) -> list[tuple[str, str, list[str]]]:
    """(negation, the word it negates, the content words it bears on) triples; a leading "No:"/"No," answer word
    negates nothing, and neither does "no" opening a condition ("when no mode is given", "if nothing matches"):
    it says what happens by default, as "if omitted" does. A negated verb in a condition ("if you haven't
    specified") still counts. Nor does "no" as a setting's value ("must be yes or no")."""
    triples = []
    for i, token in enumerate(tokens):
        if is_negation(token):
            if (i == 0 and token == "no") or (token in _ABSENT and _CONDITIONS & set(tokens[max(i - 2, 0) : i])) \
                    or _is_value(tokens, i):
                continue
            following = [t for t in tokens[i + 1 : i + 5] if t not in STOPWORDS and t not in NEGATIONS]
            if following:
                triples.append((token, following[0], [t for t in tokens[i + 1 : i + 6] if t not in STOPWORDS]))
        elif (negated := _negated_by_prefix(token)) is not None:
            triples.append((token, negated, [negated]))
    return triples


def _is_value(tokens: list[str], i: int) -> bool:
    """ "no" as the value of a yes/no setting: "yes or no", "no or yes", "yes, no", "set to no"."""
    before = tokens[max(i - 2, 0) : i]
    return tokens[i] == "no" and ("yes" in before or "yes" in tokens[i + 1 : i + 3] or before == ["set", "to"])


_CONDITIONS = frozenset({"if", "when", "whenever"})
_SAME_OBJECT = 2  # content words two negations share after them for them to say "not" about the same thing
_ABSENT = frozenset({"no", "nothing", "none"})


def _negated_scope(tokens: list[str]) -> set[str]:
    """The few content words after each negation: what that side says is not so."""
    scope: set[str] = set()
    for i, token in enumerate(tokens):
        if is_negation(token) and not _is_value(tokens, i):
            after = tokens[i + 1 : i + 6]
            scope |= {t for t in after if t not in STOPWORDS}
            scope |= {a + b for a, b in itertools.pairwise(after)}  # "log in" is "login"
        elif (negated := _negated_by_prefix(token)) is not None:
            scope.add(negated)
    return scope


def _negated_by_prefix(word: str) -> str | None:
    """ "unmodifiable" -> "modifiable", "non-empty" -> "empty": the word a negating prefix bears on."""
    for prefix in ("non-", "non", "un"):
        if word.startswith(prefix) and len(word) - len(prefix) >= 5:
            return word[len(prefix):]
    return None


def content_words(text: str) -> list[tuple[str, str]]:
    """(word, stem) of each distinct content word: not a stopword, a number or a month; a hyphenated word
    by its parts ("Russia-reliant": "russia", "reliant")."""
    seen: dict[str, str] = {}
    for word in words(fold(text)):
        lowered = word.lower()
        for part in lowered.split("-"):
            if part and part not in STOPWORDS and part not in MONTHS and not is_number(part) \
                    and not part.isdigit():
                seen.setdefault(stem(part), part)
    return [(w, s) for s, w in seen.items()]
