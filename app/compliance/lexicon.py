"""The word lists of `data/keywords.yaml`, loaded once and indexed for the decision procedure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from app.compliance.normalise import collapse_runs, normalise, tokens
from app.errors import ConfigurationError

KeywordType = Literal["opt_out", "opt_in", "help"]
Language = Literal["en", "es", "fr"]

DATA_FILES = (
    "keywords.yaml",
    "quiet_hours.yaml",
    "npa_states.csv",
    "content_rules.yaml",
    "replies.yaml",
)


@dataclass(frozen=True, slots=True)
class Keyword:
    """One entry of the §4 keyword lists."""

    canonical: str
    type: KeywordType
    language: Language
    key: str
    """Tokens of the normalised keyword, concatenated (`OPT-OUT` -> `optout`)."""
    spelling: str
    """The normalised keyword with its own separators (`opt-out`), to pick the canonical form."""


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Every word list the inbound decision procedure reads."""

    keywords_by_key: dict[str, tuple[Keyword, ...]]
    keywords_by_collapsed_key: dict[str, tuple[Keyword, ...]]
    key_fragments: frozenset[str]
    key_prefixes: frozenset[str]
    """Every prefix of every collapsed key: a longer piece starting otherwise spells no keyword."""
    longest_key: int
    by_canonical: dict[str, Keyword]
    opt_in_only_when_opted_out: frozenset[str]
    opt_out_emoji: frozenset[str]
    ambiguous_keywords: frozenset[str]
    fillers: frozenset[str]
    fillers_help_opt_in: frozenset[str]
    clause_conjunctions: frozenset[str]
    guards: tuple[tuple[str, ...], ...]
    negations: tuple[tuple[str, ...], ...]
    revocation_verbs: frozenset[str]
    crisis_patterns: tuple[tuple[str, ...], ...]
    typo_targets: dict[str, str]
    typo_exclusions: frozenset[str]
    residual_verbs: dict[str, str]
    residual_prepositions: frozenset[str]
    residual_verbs_needing_messaging_object: frozenset[str]
    not_a_messaging_object: frozenset[str]
    non_messaging_nouns: frozenset[str]
    time_words: frozenset[str]
    messaging_words: frozenset[str]
    marketing_words: frozenset[str]

    def keyword(self, canonical: str) -> Keyword:
        """The keyword with this canonical form."""
        return self.by_canonical[canonical]


def _strings(raw: Iterable[Any]) -> list[str]:
    items = list(raw)
    for item in items:
        # YAML 1.1 reads bare yes/no/on/off as booleans: a silent "True" keyword would be a bug.
        if not isinstance(item, str):
            raise ConfigurationError(f"keywords.yaml: {item!r} is not a string (quote it)")
    return items


def _words(raw: Iterable[Any]) -> frozenset[str]:
    return frozenset(" ".join(tokens(normalise(word))) for word in _strings(raw))


def _sequences(raw: Iterable[Any]) -> tuple[tuple[str, ...], ...]:
    # Longest first, so "stop and shop" is tried before "stop and go" shares its prefix.
    seqs = {tuple(tokens(normalise(item))) for item in _strings(raw)}
    return tuple(sorted((s for s in seqs if s), key=len, reverse=True))


def _build_keywords(raw: dict[str, dict[str, list[str]]]) -> list[Keyword]:
    built: list[Keyword] = []
    for kw_type, by_language in raw.items():
        if kw_type not in ("opt_out", "opt_in", "help"):
            raise ConfigurationError(f"unknown keyword type {kw_type!r} in keywords.yaml")
        for language, words in by_language.items():
            if language not in ("en", "es", "fr"):
                raise ConfigurationError(f"unknown keyword language {language!r}")
            for word in _strings(words):
                spelling = normalise(word)
                built.append(
                    Keyword(
                        canonical=str(word),
                        type=kw_type,  # type: ignore[arg-type]
                        language=language,  # type: ignore[arg-type]
                        key="".join(tokens(spelling)),
                        spelling=spelling,
                    )
                )
    return built


def _index(keywords: list[Keyword], keyfunc: Any) -> dict[str, tuple[Keyword, ...]]:
    index: dict[str, list[Keyword]] = {}
    for kw in keywords:
        index.setdefault(keyfunc(kw.key), []).append(kw)
    return {key: tuple(kws) for key, kws in index.items()}


def _fragments(keys: Iterable[str]) -> frozenset[str]:
    """Every substring of every collapsed key: a token outside this set is no keyword part."""
    found: set[str] = set()
    for key in keys:
        for start in range(len(key)):
            for end in range(start + 1, len(key) + 1):
                found.add(key[start:end])
    return frozenset(found)


def _prefixes(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(key[:end] for key in keys for end in range(1, len(key) + 1))


def _read_data(name: str) -> bytes:
    return resources.files("app.compliance.data").joinpath(name).read_bytes()


@cache
def ruleset_version() -> str:
    """The id stored with every decision: the SPEC date plus a hash of the rule data files."""
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update(_read_data(name))
    return f"spec-2026-11-23+{digest.hexdigest()[:10]}"


@cache
def lexicon() -> Lexicon:
    """The word lists of `data/keywords.yaml`, parsed once per process."""
    data = yaml.safe_load(_read_data("keywords.yaml"))
    keywords = _build_keywords(data["keywords"])
    by_collapsed = _index(keywords, collapse_runs)
    return Lexicon(
        keywords_by_key=_index(keywords, lambda key: key),
        keywords_by_collapsed_key=by_collapsed,
        key_fragments=_fragments(by_collapsed),
        key_prefixes=_prefixes(by_collapsed),
        longest_key=max(len(kw.key) for kw in keywords),
        by_canonical={kw.canonical: kw for kw in keywords},
        opt_in_only_when_opted_out=frozenset(_strings(data["opt_in_only_when_opted_out"])),
        opt_out_emoji=frozenset(_strings(data["opt_out_emoji"])),
        ambiguous_keywords=frozenset(_strings(data["ambiguous_keywords"])),
        fillers=_words(data["fillers"]),
        fillers_help_opt_in=_words(data["fillers_help_opt_in"]),
        clause_conjunctions=_words(data["clause_conjunctions"]),
        guards=_sequences(data["guards"]),
        negations=_sequences(data["negations"]),
        revocation_verbs=_words(data["revocation_verbs"]),
        crisis_patterns=_sequences(data["crisis_patterns"]),
        typo_targets={str(k): str(v) for k, v in data["typo_targets"].items()},
        typo_exclusions=_words(data["typo_exclusions"]),
        residual_verbs={str(k): str(v) for k, v in data["residual_verbs"].items()},
        residual_prepositions=_words(data["residual_prepositions"]),
        residual_verbs_needing_messaging_object=_words(
            data["residual_verbs_needing_messaging_object"]
        ),
        not_a_messaging_object=_words(data["not_a_messaging_object"]),
        non_messaging_nouns=_words(data["non_messaging_nouns"]),
        time_words=_words(data["time_words"]),
        messaging_words=_words(data["messaging_words"]),
        marketing_words=_words(data["marketing_words"]),
    )
