"""Reading a customer's reply as an answer to a flow's question.

In order, cheapest and surest first:
1. the option's key as typed: "1", "1.", " 1 ", "#1", "(1)", "one", "opt 1" -> "1";
2. a bare yes or no ("yeah", "yep", "nope") for a question with a `means: yes|no` option;
3. its meaning: the sentence encoder's cosine similarity to each option's `examples`, taken
   only above a floor and a margin ahead of the runner-up (an unsure reading is no answer:
   the text goes to the normal pipeline, or gets the fallback if it looks like an answer).
Step 3 needs the AI layer; while it loads (or when it failed, or the bot is off) only 1 and 2
count.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

MatchedBy = Literal["key", "yes_no", "meaning", "free_text"]
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5",
    "primero": "1", "primera": "1", "segundo": "2", "segunda": "2", "tercero": "3",
    "tercera": "3", "primer": "1", "tercer": "3",
    "1st": "1", "2nd": "2", "3rd": "3", "4th": "4", "5th": "5",
}  # fmt: skip
_ORDINAL = re.compile(
    r"^(?:the |el |la )?(1st|2nd|3rd|4th|5th|first|second|third|fourth|fifth|primer[oa]?|"
    r"segund[oa]|tercer[oa]?)(?: (?:one|option|slot|time|uno|una|opcion|opción))?"
    r"(?: (?:pls|plz|please|por favor|thanks|thx))?[.!]*$"
)
"""An offered item picked by its place: "the 3rd one pls", "second option", "la primera"."""
_LEADING = re.compile(r"^(?:#\s*|opt(?:ion)?\s*)?([a-z0-9]+)(?:\s*[-.,:;!)]+\s*|\s+)(\S.*)$")
_UNITS = frozenset(
    "am pm min mins minute minutes hr hrs hour hours day days week weeks wk wks month months "
    "year years yr yrs sec secs moment x times more people of or and to".split()
)
"""After a leading number these make it a quantity ("2 days late", "10 min"), not a choice."""
_TIME = re.compile(r"^\d{1,2}[:.]\d")
"""`3:30 thursday` is a time, not option 3."""
_SCALE = re.compile(r"^(\d{1,2})\s*(?:/|out of)\s*(\d{1,2})\b")
_KEY = re.compile(r"^(?:opt(?:ion)?\s*|no\.?\s*|#\s*|\(\s*)?([a-z0-9]+)\s*[.)!]*$")
_YES = frozenset(
    "yes yeah yea yep yup ya sure ok okay k kk confirm confirmed definitely absolutely "
    "correct right yes please sounds good will do".split()
)
_NO = frozenset("no nope nah negative not".split())
_WORD = re.compile(r"[a-z0-9']+")
_CLOSINGS = frozenset("thanks thank you thx ty tysm cheers great cool perfect awesome".split())
"""A thanks is never an attempt at an answer: the normal pipeline closes it politely."""
_QUESTION_WORDS = frozenset(
    "what when where why who how which can could do does is are will would should".split()
)


class TextEncoder(Protocol):
    """The sentence encoder, as far as matching needs it (`app.ai.encoder.Encoder`)."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        """L2-normalised embeddings, one row per text."""
        ...


@dataclass(frozen=True)
class Match:
    """The option a reply picks, and how it was read."""

    key: str
    by: MatchedBy
    score: float | None = None


def exact_key(text: str, keys: Sequence[str]) -> str | None:
    """The option key `text` spells, allowing the ways people type one (`#1`, `1.`, `one`,
    `the 3rd one pls`)."""
    plain = " ".join(text.casefold().split())
    found = _KEY.match(plain) or _ORDINAL.match(plain)
    if found is None:
        return None
    key = _NUMBER_WORDS.get(found.group(1), found.group(1))
    return key if key in keys else None


def leading_key(text: str, keys: Sequence[str]) -> str | None:
    """The option key a reply starts with, before the words that explain it ("5 great
    service", "2, they didn't fix it", "1 - weekday mornings", "4/5", "10/10"): the way people
    answer a numbered question. A number that counts something ("2 days late") is no choice."""
    plain = " ".join(text.casefold().split())
    scale = _SCALE.match(plain)
    numeric = sorted(int(k) for k in keys if k.isdigit())
    if scale is not None and numeric == list(range(1, len(numeric) + 1)) and numeric:
        value, top = int(scale.group(1)), int(scale.group(2))
        if 0 < value <= top and top in (len(numeric), 10):
            return str(max(1, round(value * len(numeric) / top)))
        return None
    found = _LEADING.match(plain)
    if found is None or _TIME.match(plain):
        return None
    key = _NUMBER_WORDS.get(found.group(1), found.group(1))
    rest = _WORD.findall(found.group(2))
    if key not in keys or (rest and rest[0] in _UNITS):
        return None
    return key


def yes_or_no(text: str) -> Literal["yes", "no"] | None:
    """`yes` or `no` for a short reply made only of yes (or no) words ("yeah sure", "nope")."""
    words = _WORD.findall(text.casefold().replace("’", "'"))
    if not words or len(words) > 4:
        return None
    if all(w in _YES for w in words):
        return "yes"
    if all(w in _NO for w in words):
        return "no"
    return None


def looks_like_an_answer(text: str) -> bool:
    """Whether an unmatched reply was still meant as an answer ("7", "maybe", "hmm"): short
    and not a question. Anything else is a message of its own for the normal pipeline."""
    words = _WORD.findall(text.casefold())
    if "?" in text or (words and words[0] in _QUESTION_WORDS):
        return False
    if words and all(w in _CLOSINGS for w in words):
        return False
    return len(words) <= 2


class MeaningMatcher:
    """Free text against each option's examples, with the project's sentence encoder."""

    def __init__(self, encoder: TextEncoder, *, min_score: float, margin: float) -> None:
        self.encoder = encoder
        self.min_score = min_score
        self.margin = margin
        self._cache: dict[tuple[str, ...], npt.NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def match(self, text: str, examples: Mapping[str, Sequence[str]]) -> Match | None:
        """The option whose examples `text` is clearly closest to, or None."""
        keys = [key for key, texts in examples.items() if texts]
        if not keys:
            return None
        vector = self.encoder.encode([text])[0]
        scores = sorted(
            ((float(np.max(self._vectors(tuple(examples[k])) @ vector)), k) for k in keys),
            reverse=True,
        )
        best, key = scores[0]
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if best < self.min_score or best - runner_up < self.margin:
            return None
        return Match(key, "meaning", round(best, 3))

    def _vectors(self, texts: tuple[str, ...]) -> npt.NDArray[np.float32]:
        # A flow's examples are fixed once loaded: encode each option's once per process.
        with self._lock:
            cached = self._cache.get(texts)
        if cached is None:
            cached = self.encoder.encode(list(texts))
            with self._lock:
                self._cache[texts] = cached
        return cached
