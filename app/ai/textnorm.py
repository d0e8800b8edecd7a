"""Texting language to plain words, before a text is embedded: "u open sun?" -> "you open
sunday?", "wats ur retun polcy" -> "whats your return policy".

Two passes, both cheap (well under a millisecond):
- shorthand: a fixed table of SMS abbreviations (`data/shorthand.yaml`);
- spelling: a word that is neither in the knowledge base, nor an everyday word, nor a word of
  the encoder's English vocabulary is replaced by the closest knowledge-base word (one edit,
  a swap of two letters counting as one; two edits from eight letters up), so a misspelled
  topic word finds its entry. Real words, names the encoder knows, numbers and order ids are
  left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

import yaml
from rapidfuzz.distance import OSA
from rapidfuzz.process import extractOne

_WORD = re.compile(
    r"[a-zA-Z]/[a-zA-Z]?(?![\w/])"  # shorthand with a slash: w/, w/o, b/c
    r"|[a-zA-Z]+-?\d[\w-]*"  # an order id such as AC12345 or AC-12345 stays one token
    r"|[a-zA-Z\u00c0-\u00ff']+(?:-[a-zA-Z\u00c0-\u00ff]+)*"
    r"|\$?\d[\w/:.,$-]*"  # amounts, dates, times
    r"|[^\w\s]+"
)
_ID_LIKE = re.compile(r".*\d.*")


@cache
def shorthand() -> dict[str, str]:
    """Abbreviation -> expansion (lower case)."""
    data = yaml.safe_load(resources.files("app.ai").joinpath("data/shorthand.yaml").read_text())
    return {str(k).lower(): str(v) for k, v in data["shorthand"].items()}


@cache
def common_words() -> frozenset[str]:
    """Everyday words that are never "corrected" towards a knowledge-base word."""
    data = yaml.safe_load(resources.files("app.ai").joinpath("data/shorthand.yaml").read_text())
    return frozenset(str(w).lower() for w in data["common"].split())


@cache
def english_words() -> frozenset[str]:
    """Whole words of the encoder's own vocabulary (about 20,000 English words): a word found
    there is a real word, never a misspelling to correct ("hissing" is not "missing")."""
    from app.ai.encoder import model_path

    vocab = (model_path() / "vocab.txt").read_text("utf-8").split()
    return frozenset(w for w in vocab if w.isalpha() and w.islower() and len(w) >= 3)


class Normaliser:
    """Expands shorthand and corrects misspellings towards a vocabulary."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        words = {w.lower() for w in vocabulary if w.isalpha() and len(w) >= 3}
        self.vocabulary = sorted(words | {w for w in common_words() if len(w) >= 3})
        self._known = (
            frozenset(self.vocabulary) | common_words() | set(shorthand()) | english_words()
        )
        self._cache: dict[str, str] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Normaliser:
        """A normaliser whose vocabulary is every word of `texts` (e.g. the knowledge base)."""
        return cls(word for text in texts for word in re.findall(r"[a-zA-Z]+", text))

    def __call__(self, text: str, *, correct: bool = True) -> str:
        """The text in plain words (lower case; punctuation kept). `correct=False` keeps the
        spelling (a Spanish text must not be "corrected" towards English words)."""
        out: list[str] = []
        for token in _WORD.findall(text):
            lowered = token.lower()
            if not lowered[0].isalpha():
                out.append(shorthand().get(lowered, lowered))  # 2day, 2nite; else numbers
                continue
            expanded = shorthand().get(lowered.replace("'", ""))
            if expanded is not None:
                out.append(expanded)
            else:
                out.append(self._correct(lowered) if correct else lowered)
        return _join(out)

    def _correct(self, word: str) -> str:
        if word in self._known or len(word) < 4 or _ID_LIKE.match(word) or "-" in word:
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        # One edit (a swap of two letters counts as one) below 8 letters, two from 8 up:
        # "coupon" must not become "common", "unpause" must not become "pause".
        limit = 1 if len(word) < 8 else 2
        found = extractOne(word, self.vocabulary, scorer=OSA.distance, score_cutoff=limit)
        fixed = str(found[0]) if found is not None else word
        if len(self._cache) < 50_000:
            self._cache[word] = fixed
        return fixed


def _join(tokens: list[str]) -> str:
    text = ""
    for token in tokens:
        if text and (token[0].isalnum() or token[0] in "$'"):
            text += " "
        text += token
    return text


@cache
def _spanish() -> tuple[list[tuple[re.Pattern[str], str]], dict[str, str]]:
    raw = yaml.safe_load(
        resources.files("app.ai").joinpath("data/spanish_gloss.yaml").read_text("utf-8")
    )
    phrases = sorted(raw["phrases"].items(), key=lambda item: -len(str(item[0])))
    compiled = [(re.compile(rf"\b{re.escape(str(k))}\b"), str(v)) for k, v in phrases]
    return compiled, {str(k): str(v) for k, v in raw["words"].items()}


def gloss_spanish(text: str) -> str:
    """A Spanish text in English words, for the English-only encoder ("a que hora abren el
    domingo" -> "what time open the sunday"); unknown words pass through."""
    phrases, words = _spanish()
    lowered = text.lower().replace("¿", " ").replace("¡", " ")
    for pattern, english in phrases:
        lowered = pattern.sub(english, lowered)
    return " ".join(words.get(token, token) for token in re.findall(r"[\w$.'/-]+|[?!]", lowered))
