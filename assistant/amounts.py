"""Amounts as values: numbers written as words ("forty-two", "four thousand and ninety-five") and amounts with a
unit, which hold the same amount in another unit of their kind ("5.8cm" = "58 mm", "300 seconds" = "five
minutes", "1,048,576 bytes" = "1 MiB"). Used by ``assistant.claims`` to compare a claim's values with its
passage's.
"""

from __future__ import annotations

import re

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "twelfth": 12, "twentieth": 20}
_COUNTED = [u for u in _UNITS if u != "one"]  # "one" is more often a pronoun ("one of them") than a count
_SMALL = "|".join([*_UNITS, *_TENS])
# "and" joins only after a scale ("four thousand and ninety-five"); "ten and eleven" are two numbers
_SCALE = r"(?:" + "|".join(_SCALES) + r")\b(?:\s+and(?=\s+(?:" + _SMALL + r")\b))?"
# a number word that opens a compound ("twenty one-line descriptions": 20) joins no number before it
_JOINED = r"(?:" + _SMALL + r")\b(?!-(?!(?:" + _SMALL + r")\b)\w)"
NUMBER_WORD = re.compile(r"\b(?:(?:" + "|".join([*_COUNTED, *_TENS, "a dozen", "dozen"]) + r")\b|" + _SCALE + r")"
                         r"(?:[-\s]+(?:" + _JOINED + r"|" + _SCALE + r"))*", re.IGNORECASE)


def is_number(word: str) -> bool:
    return word.isdigit() or word in _UNITS or word in _TENS or word in _SCALES


def word_value(phrase: str) -> int:
    """ "forty-two" -> 42, "two hundred" -> 200, "a dozen" -> 12."""
    total = current = 0
    for word in re.split(r"[-\s]+", phrase.lower()):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "dozen":
            current = (current or 1) * 12
        elif word in _SCALES:
            current = (current or 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
    return total + current


def _units(sizes: dict[str, float | tuple[float, ...]], kind: str) -> dict[str, tuple[str, tuple[float, ...]]]:
    return {name: (kind, size if isinstance(size, tuple) else (size,)) for name, size in sizes.items()}


# units of one kind with their sizes in the kind's base unit ("KB" may mean 1000 or 1024 bytes)
UNIT_SIZES = {
    **_units(dict.fromkeys(["mm", "millimeter", "millimeters", "millimetre", "millimetres"], 1)
             | dict.fromkeys(["cm", "centimeter", "centimeters", "centimetre", "centimetres"], 10), "length"),
    **_units(dict.fromkeys(["ms", "millisecond", "milliseconds"], 0.001)
             | dict.fromkeys(["s", "sec", "secs", "second", "seconds"], 1)
             | dict.fromkeys(["min", "mins", "minute", "minutes"], 60)
             | dict.fromkeys(["h", "hr", "hrs", "hour", "hours"], 3600)
             | dict.fromkeys(["day", "days"], 86400) | dict.fromkeys(["week", "weeks"], 604800), "time"),
    **_units(dict.fromkeys(["b", "byte", "bytes"], 1)
             | {f"{p}{suffix}": 1024**n for n, p in enumerate("kmgt", 1) for suffix in ("ib", "i")}
             | {f"{p}b": (1000**n, 1024**n) for n, p in enumerate("kmgt", 1)}
             | {f"{prefix}bytes": 1024**n for n, prefix in enumerate(["kibi", "mebi", "gibi", "tebi"], 1)}
             | {f"{prefix}byte": 1024**n for n, prefix in enumerate(["kibi", "mebi", "gibi", "tebi"], 1)}
             | {f"{prefix}byte{s}": (1000**n, 1024**n) for n, prefix in enumerate(["kilo", "mega", "giga", "tera"], 1)
                for s in ("", "s")}, "size"),
}
_AMOUNT = r"\d[\d,]*(?:\.\d+)?|\.\d+|" + "|".join([*_UNITS, *_TENS])
# "5.8cm", "300 seconds", "between 1 and 8 kibibytes" (the unit counts for both)
_QUANTITY = re.compile(rf"(?<![\w.])({_AMOUNT})(?:\s*(?:,|and|to|or|-|–)\s*({_AMOUNT}))?\s?"
                       rf"({'|'.join(sorted(UNIT_SIZES, key=len, reverse=True))})\b", re.IGNORECASE)


def quantity_values(text: str) -> set[str]:
    """Each amount with a unit in ``text`` in the other units of its kind, where that is a plain number: "5.8cm"
    gives "58" (mm), "300 seconds" gives "5" (minutes), "1,048,576 bytes" gives "1" (MiB)."""
    found: set[str] = set()
    for match in _QUANTITY.finditer(text):
        kind, sizes = UNIT_SIZES[match.group(3).lower()]
        for amount in filter(None, match.group(1, 2)):
            value = float(word_value(amount)) if amount.lower() in _UNITS or amount.lower() in _TENS else \
                float(amount.replace(",", ""))
            for other_kind, other_sizes in set(UNIT_SIZES.values()):
                if other_kind == kind:
                    found |= {_plain(value * size / other) for size in sizes for other in other_sizes}
    return {v for v in found if v}


def _plain(value: float) -> str:
    """A number as ``claimed`` writes it ("58", "5.8"), or "" when it is no plain number in that unit."""
    if not 0.001 <= value < 1e12:
        return ""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    text = f"{value:.3f}".rstrip("0")
    return text if abs(float(text) - value) < 1e-9 else ""
