"""Reading a question: its terms, what kind of answer it expects, and follow-up rewriting.

These are the deterministic checks behind abstention. A similarity threshold only catches
off-topic questions; an on-topic question about something the documents lack (a year, a name, an
outcome) looks as similar as an answerable one, so we also ask: does the evidence contain the
question's specifics, and an answer of the expected type (a date for "when", a number for
"how many", a name for "who")?
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.records import Message

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w-])\d[\d,.]*(?:s)?(?![\w-])")
MONTHS = """
    january february march april may june july august september october november december
""".split()
NUMBER_WORDS = set(
    """
    one two three four five six seven eight nine ten eleven twelve dozen twenty thirty forty fifty
    sixty seventy eighty ninety hundred thousand million billion trillion once twice thrice half
    percent first second third fourth fifth
""".split()
)
TIME_WORDS = {"since", "until", "ago", "decade", "century", "yesterday", "today", "week", "month", "year"}
STOPWORDS = set(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    whose why will with would you your yours yourself yourselves also did does done get got make
    made say said tell told according article author document documents text mention mentioned
    describe described please know
""".split()
)
WH_WORDS = {"who", "whom", "whose", "what", "when", "where", "which", "why", "how"}
_DEPENDENT = {"it", "its", "that", "this", "they", "them", "their", "there", "he", "she", "him", "her",
              "his", "those", "these", "then", "same", "one"}


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    return [_strip_possessive(w) for w in _WORD.findall(text)]


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def stem(word: str) -> str:
    return _stemmer().stemWord(word.lower())


@lru_cache(maxsize=65536)  # the same sentences come back query after query
def content_stems(text: str) -> tuple[str, ...]:
    """Stems of the words that carry meaning (no stopwords, no one-letter words)."""
    return tuple(stem(w) for w in words(text) if len(w) > 1 and w.lower() not in STOPWORDS)


@lru_cache(maxsize=16384)
def _vocabulary(text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(lower-cased words and the parts of hyphenated ones, their stems, numbers) of a folded text."""
    text = fold(text)
    found = [w.lower() for w in words(text)]
    lowered = frozenset([*found, *(part for w in found if "-" in w for part in w.split("-") if part)])
    return lowered, frozenset(stem(w) for w in lowered), frozenset(
        m.group(0).rstrip(".,") for m in _NUMBER.finditer(text)
    )


_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}")
NAME_CONNECTORS = frozenset({"of", "the", "for", "on", "in", "de", "du"})  # inside a name: "Court of Human Rights"


def fold(text: str) -> str:
    """Text as the specifics check compares it: diacritics dropped ("Erdoğan" -> "Erdogan") and dotted
    acronyms closed up ("U.S." -> "US")."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _DOTTED_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), plain)


def acronyms(text: str) -> frozenset[str]:
    """The initials of every whole run of two to six capitalised words, connectors allowed inside ("European
    Court of Human Rights": echr): what an acronym in a question may stand for in the documents."""
    found: set[str] = set()
    for clause in _RUN_BREAK.split(fold(text)):  # "...of Human Rights. As Turkey..." is two runs
        run: list[str] = []
        for word in [*words(clause), ""]:
            if word.lower() in NAME_CONNECTORS:  # inside a run ("Court of Human Rights"), or "The" before one
                continue
            if word[:1].isupper() and not word.isupper():
                run.append(word[0])
                continue
            if 2 <= len(run) <= 6:
                found.add("".join(run).lower())
            run = []
    return frozenset(found)


_RUN_BREAK = re.compile(r"[.!?;:,()\[\]\"“”]")


@dataclass(frozen=True, slots=True)
class QuestionProfile:
    text: str
    expects: tuple[str, ...]  # answer types: "date", "number", "name", "advice", "version", "money", "size"
    specifics: tuple[str, ...]  # numbers and proper names the evidence must contain
    stems: tuple[str, ...]


def profile(question: str) -> QuestionProfile:
    return QuestionProfile(question, expected_types(question), specifics(question), tuple(content_stems(question)))


_TYPE_CUES = (
    ("number", r"\b(how (many|much|often|long|far)|what (percentage|share|number|amount))\b"),
    # "When did ...", not the conditional "When I sort ..., do ...?"
    ("date", r"\b(when (did|does|do|was|were|is|are|will|would|has|have|had|can|could|should|shall|may|might)\b"
             r"|what (year|date|month|day)|which (year|date|month))\b"),
    ("name", r"(^|\band |\bor )(who|whom|whose|where)\b"),
    ("advice", r"\b(recommend\w*|suggest\w*|advi[sc]e\w*|propos\w*|should|ought)\b"),
    # the kinds of amount a number alone does not answer: "how much did X pay" wants money, not a year
    ("version", r"\b(which|what) (\S+ ){0,2}version\b"),
    ("money", r"\bhow much (\S+ ){0,5}(pay|paid|cost|costs|spend|spent|charge|charged|earn|earned|sell|sold|price)\b"
              r"|\bwhat (\S+ ){0,2}(price|cost|fee)\b"),
    ("size", r"\bhow much (\S+ )?(ram|memory|disk|space|storage|bandwidth)\b"),
)
_ADVICE = re.compile(r"\b(should|must|need|needs|needed|ought|would|could|can|recommend\w*|wise)\b", re.IGNORECASE)
# an instruction is advice too: "Always commit your fixes to the oldest branch", "When in doubt, choose PAP"
_IMPERATIVE = re.compile(
    r"^(?:(?:if|when|whenever|once|before|after|in)\b[^,.;:]{0,80},\s*)?(?:(?:always|never|just|simply|then|"
    r"instead|first|rather|please|also|only)\s+)?(?:use|run|set|choose|pick|select|add|remove|install|commit|type|"
    r"enter|edit|make|create|check|avoid|call|keep|put|specify|try|do|don't|give|start|stop|copy|move|delete|"
    r"change|configure|enable|disable|write|prefer|consider|load|mount|reboot|restart|upgrade|update|tick|fill|"
    r"compile|leave|apply|follow|read|look|include)\b", re.IGNORECASE)
_AMOUNTS = {
    "version": re.compile(r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?![\d])|\b(?:version|release|v)\s?\d", re.IGNORECASE),
    "money": re.compile(r"[$€£¥]\s?\d|\d\s?[$€£¥]|\b(?:dollars?|euros?|pounds? sterling|yen|lira|liras|francs?|"
                        r"cents?|USD|EUR|GBP|TRY)\b|\bfree\b|\bno (?:cost|charge)\b", re.IGNORECASE),
    "size": re.compile(r"\d\s?(?:[kmgtp]i?b|[kmgtp]|bytes?|kilobytes?|megabytes?|gigabytes?|terabytes?)\b"
                       r"|\b(?:kilo|mega|giga|tera|kibi|mebi|gibi)bytes?\b", re.IGNORECASE),
}


def expected_types(question: str) -> tuple[str, ...]:
    """What the answer must contain: "When and where ..." expects a date and a name (place)."""
    q = " ".join(question.lower().split())
    found = tuple(kind for kind, cue in _TYPE_CUES if re.search(cue, q))
    if _HOW_TO.search(q):  # "How can I see how many times each line occurs?" asks for a way, not a number
        return tuple(kind for kind in found if kind != "number")
    return found


_HOW_TO = re.compile(r"(^|[.?!]\s+)how (do|does|can|could|should|would|might|may) (i|we|you|one)\b")


@lru_cache(maxsize=4096)
def specifics(question: str) -> tuple[str, ...]:
    """Numbers and capitalized names in a text (not its first word, not wh-words), diacritics folded."""
    found: list[str] = [m.group(0).rstrip(".,") for m in _NUMBER.finditer(question)]
    tokens = words(fold(question))
    for i, word in enumerate(tokens):
        if i == 0 or not word[:1].isupper() or word.lower() in WH_WORDS or word.lower() in STOPWORDS:
            continue
        if len(word) > 1 and not word.isdigit():
            found.append(word)
    return tuple(dict.fromkeys(found))


def missing_specifics(question_specifics: Sequence[str], evidence: str, question: str = "") -> list[str]:
    """The question's specifics that the evidence text does not contain, compared folded, a hyphenated name by
    its parts ("US-Turkey"), an acronym by the initials of a name in the evidence ("NDAA": "National Defense
    Authorization Act"), and a name in the question by its acronym in the evidence."""
    evidence_words, evidence_stems, evidence_numbers = _vocabulary(evidence)

    def known(word: str) -> bool:
        lowered = word.lower()
        plural_acronym = is_acronym(word) and word.endswith("s") and lowered[:-1] in evidence_words  # "PDFs"
        return lowered in evidence_words or stem(word) in evidence_stems or plural_acronym

    missing = []
    for item in question_specifics:
        if item[0].isdigit():
            if item not in evidence_numbers:
                missing.append(item)
        elif not (known(item) or all(known(p) for p in item.split("-") if p)):
            missing.append(item)
    if missing and any(is_acronym(m) for m in missing):
        spelled = acronyms(evidence)
        missing = [m for m in missing if not (is_acronym(m) and singular(m).lower() in spelled)]
    if missing and question:  # "North Atlantic Treaty Organization" where the evidence says NATO
        upper = {w.lower() for w in words(fold(evidence)) if w.isupper() and len(w) >= 3}
        named = {a for a in acronyms(question) if len(a) >= 3 and a in upper}
        missing = [m for m in missing if not any(_initial_run(m, question, a) for a in named)]
    return missing


def singular(word: str) -> str:
    """An acronym without its plural "s" ("PDFs" -> "PDF"; "LFS" keeps its S)."""
    return word[:-1] if word.endswith("s") else word


def is_acronym(word: str) -> bool:
    letters = singular(word)
    return 2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()


def _initial_run(word: str, question: str, acronym: str) -> bool:
    """Whether ``word`` is one of the capitalised words of the question whose initials spell ``acronym``."""
    capitals = [w for w in words(fold(question)) if w[:1].isupper() and not w.isupper()]
    for i in range(len(capitals) - len(acronym) + 1):
        run = capitals[i : i + len(acronym)]
        if "".join(w[0] for w in run).lower() == acronym and word in run:
            return True
    return False


def missing_types(expects: Sequence[str], question: str, evidence: Sequence[str]) -> list[str]:
    """The expected answer types that no anchored evidence sentence holds.

    A sentence counts only if it is about what the question names (``is_anchored``): "Who won
    Turkey's 2023 election?" is not answered by a name in a sentence that never mentions 2023.
    """
    anchored = " ".join(s for s in evidence if is_anchored(question, s))
    return [kind for kind in expects if not has_answer_of_type(kind, question, anchored)]


@lru_cache(maxsize=65536)  # pure, and asked for every candidate sentence of every question
def is_anchored(question: str, sentence: str) -> bool:
    """The sentence holds one of the question's numbers if it has any, else one of its names, if any."""
    found = specifics(question)
    numbers = [s for s in found if s[0].isdigit()]
    names = [s for s in found if not s[0].isdigit()]
    if numbers:
        return len(missing_specifics(numbers, sentence)) < len(numbers)
    if names:
        sentence_words = [w for w in words(fold(sentence)) if len(w) > 1]
        return any(_same_name(n, w) for n in names for w in sentence_words)
    return True


@lru_cache(maxsize=65536)
def has_answer_of_type(kind: str, question: str, evidence: str) -> bool:
    asked = {w.lower() for w in words(question)}
    asked_numbers = {m.group(0) for m in _NUMBER.finditer(question)}
    if kind == "date":
        return _has_date(evidence, asked, asked_numbers)
    if kind == "number":
        return _has_number(evidence, asked, asked_numbers)
    if kind == "advice":
        return bool(_ADVICE.search(evidence) or _IMPERATIVE.search(evidence.strip()))
    if kind in _AMOUNTS:
        return bool(_AMOUNTS[kind].search(evidence))
    return _has_new_name(evidence, [w for w in words(question) if w[:1].isupper()])


_REFERS_BACK = re.compile(
    r"^(this|that|these|those|such|it|its|they|their|he|she|his|her|both|the same|as such|thus|hence|therefore)\b"
    r"|^(\S+\s+){0,8}(this|these|those|such)\s+\w+"
    r"|^(in|at|after|before|for|from|with) that\b",  # "In that case, try again using the package etex."
    re.IGNORECASE,
)


_ABOUT_DOCUMENT = re.compile(
    r"\b(author\w*|wrote|written|writer|publish\w*|title[ds]?|article|document|paper|report|url|link)\b",
    re.IGNORECASE,
)


def asks_about_document(question: str) -> bool:
    """Is the question about the document itself (author, title, date), so front matter may answer it?"""
    return bool(_ABOUT_DOCUMENT.search(question))


def refers_back(sentence: str) -> bool:
    """Does the sentence lean on the one before ("This difference...", "...should hold this posture")?"""
    return bool(_REFERS_BACK.search(sentence.strip()))


def _has_date(text: str, asked: set[str], asked_numbers: set[str]) -> bool:
    for match in _NUMBER.finditer(text):
        value = match.group(0).rstrip(".,s")
        if value.isdigit() and 1000 <= int(value) <= 2199 and match.group(0) not in asked_numbers:
            return True
    tokens = {w.lower() for w in words(text)}
    return bool((tokens & (set(MONTHS) | TIME_WORDS)) - asked)


def _has_number(text: str, asked: set[str], asked_numbers: set[str]) -> bool:
    if any(m.group(0) not in asked_numbers for m in _NUMBER.finditer(text)):
        return True
    tokens = {w.lower() for w in words(text)}
    return bool((tokens & NUMBER_WORDS) - asked)


def _has_new_name(text: str, asked_names: list[str]) -> bool:
    for sentence_start, word in _words_with_position(text):
        if sentence_start or not word[:1].isupper() or word.lower() in STOPWORDS or word.lower() in MONTHS:
            continue
        if not any(_same_name(word, name) for name in asked_names):
            return True
    return False


def _words_with_position(text: str):
    previous_end = None
    for match in _WORD.finditer(text):
        gap = text[previous_end : match.start()] if previous_end is not None else "."
        yield bool(re.search(r"[.!?:\n]\s*$", gap) or previous_end is None), _strip_possessive(match.group(0))
        previous_end = match.end()


def _same_name(a: str, b: str) -> bool:
    """Same name or the same root ("Turkey"/"Turkish", "Russia"/"Russian")."""
    a, b = a.lower(), b.lower()
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return a == b or (common >= 4 and common >= 0.6 * min(len(a), len(b)))


_SECOND_PART = re.compile(r",?\s+(?:and|or)\s+(?=(?:who|whom|whose|what|when|where|why|how|which)\b)", re.IGNORECASE)


def sub_questions(question: str) -> list[str]:
    """Split "Who wrote it and where does he work?" into its parts; a one-part question stays whole."""
    parts = [p.strip(" ,") for p in _SECOND_PART.split(question) if p.strip(" ,?")]
    if len(parts) < 2 or any(len(p.split()) < 3 for p in parts):  # "When and where ...", "..., and why?"
        return [question]
    return parts


_INTERJECTIONS = {"ok", "okay", "alright", "right", "well", "thanks", "great", "hmm", "oh", "yes", "no", "sure", "cool"}


def standalone_question(question: str, history: Sequence[Message]) -> str:
    """Deterministic follow-up rewrite: a question that leans on earlier turns gets the last user turn.

    "Where was it supposed to be held?" after "Who was Çavuşoğlu going to meet on May 18?" becomes
    "Where was it supposed to be held? (Who was Çavuşoğlu going to meet on May 18?)".
    """
    earlier = [m.content.strip() for m in history if m.role == "user" and m.content.strip()]
    if not earlier:
        return question
    lowered = [w.lower() for w in words(question)]
    while lowered[:1] and lowered[0] in _INTERJECTIONS:  # "OK, and if I only want the tunnel?"
        lowered = lowered[1:]
    leans_on_history = (
        any(w in _DEPENDENT for w in lowered)
        or len(content_stems(question)) < 3
        or (lowered[:1] and lowered[0] in {"and", "so", "also", "but"})
    )
    if not leans_on_history:
        return question
    return f"{question} ({earlier[-1]})"
