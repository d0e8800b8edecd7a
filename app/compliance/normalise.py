"""Text normalisation of SPEC §5: the same input always folds to the same tokens.

`normalise()` applies NORM-1..NORM-5 to a whole body; `tokens()` splits normalised text into
runs of letters and digits; `segments()` splits it on punctuation (§5 item 9) before
tokenising, so phrase and clause rules never match across a sentence boundary.
"""

from __future__ import annotations

import re
import unicodedata

# NORM-3: a fixed, reviewed table of Latin look-alikes (UTS #39 confusables restricted to letters
# with a Latin twin). Letters without a twin (Russian "стоп") are left alone on purpose: they go
# to the AI second pass (§7), not to keyword matching.
_CONFUSABLES = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    # Cyrillic small letters
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "у": "y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z", "ο": "o",
}  # fmt: skip
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)

# NORM-2: variation selectors, the combining grapheme joiner and the keycap combiner are not in
# category Cf but hide inside keywords just as well.
_INVISIBLE_EXTRA = {chr(c) for c in range(0xFE00, 0xFE10)} | {"\u034f", "\u20e3"}
_APOSTROPHES = "'’‘ʼ`´"
_APOSTROPHE_IN_WORD = re.compile(rf"(?<=\w)[{_APOSTROPHES}](?=\w)")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W_]+")
# §5 item 9: sentence punctuation, line breaks and a spaced hyphen end a segment.
_SEGMENT_BREAK = re.compile(r"[.!?;:,…—–\n\r\u2028\u2029]+|\s-\s")
_MAX_PASSES = 4
# NORM-6: a letter repeated in a run; one regex pass (C speed, linear) instead of a Python loop
# per character, since it runs over every token of bodies up to the product's length limit.
_RUN = re.compile(r"(.)\1+", re.DOTALL)


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in _INVISIBLE_EXTRA
    )
    text = text.translate(_CONFUSABLE_TABLE)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFC", text).casefold()
    # Casefolding can reveal a small letter that the table maps (Cyrillic У -> у -> y).
    return text.translate(_CONFUSABLE_TABLE)


def normalise(text: str) -> str:
    """Fold a message body to the normalised text of SPEC §5 (NORM-1..NORM-5).

    Line breaks survive as segment boundaries; other whitespace collapses to one space.
    Idempotent: `normalise(normalise(t)) == normalise(t)` for every string.
    """
    # Lone surrogates cannot be encoded anywhere downstream; they carry no letters.
    text = _SURROGATE.sub("\ufffd", text)
    # Folding can make new neighbours compose (an apostrophe removed between two jamo), so it
    # runs to a fixed point; two passes suffice in practice.
    for _ in range(_MAX_PASSES):
        folded = _APOSTROPHE_IN_WORD.sub("", _fold_once(text)).replace("&", " and ")
        if folded == text:
            break
        text = folded
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def tokens(normalised: str) -> list[str]:
    """Maximal runs of letters and digits; everything else separates tokens (§5 item 6)."""
    return _TOKEN.findall(normalised)


def segments(normalised: str) -> list[list[str]]:
    """Token lists of the segments of §5 item 9, empty segments dropped."""
    parts = (tokens(part) for part in _SEGMENT_BREAK.split(normalised))
    return [part for part in parts if part]


def collapse_runs(word: str) -> str:
    """NORM-6 letter-run collapse: `stooooop` -> `stop`, `stopppp` -> `stop`."""
    if _RUN.search(word) is None:
        return word  # most words: no run, no new string
    return _RUN.sub(_first_letter, word)


def _first_letter(run: re.Match[str]) -> str:
    return run.group(1)
