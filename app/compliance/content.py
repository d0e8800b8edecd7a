"""Content rules of the outbound gate: SHAFT (MSG-3), reserved keywords (KW-1), length (MSG-1),
brand and opt-out instructions (MSG-2); word lists in `data/content_rules.yaml`. Matching is on
whole tokens of the normalised body (§5), never substrings: "Scunthorpe", "screenshot" or
"pottery" trip nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

import yaml

from app.compliance.lexicon import Keyword, KeywordType, lexicon
from app.compliance.model import Category, ContentVerdict
from app.compliance.normalise import normalise, tokens
from app.compliance.segments import count_segments
from app.errors import ConfigurationError

Seq = tuple[str, ...]
MAX_REPLY_SEGMENTS = 2  # MSG-1: a reply is capped at two segments as well as at `max_chars`

_SENTENCE = re.compile(r"[.!?;\n]+")
_CLAUSE_TOKEN = re.compile(r"[^\W_]+|[,:]")  # words, plus the clause breaks KW-1 reads
_RAW_WORD = re.compile(r"[^\W_]+")


class _Shaft(NamedTuple):
    label: str
    age_gate_allows: bool
    terms: tuple[Seq, ...]
    exceptions: tuple[Seq, ...]


class _Rules(NamedTuple):
    shaft: tuple[_Shaft, ...]
    words: dict[str, frozenset[str]]  # KW-1 word sets by their name in the file
    allowed: dict[KeywordType, tuple[Seq, ...]]
    bare_verbs: dict[KeywordType, frozenset[str]]


# One "reply <KEYWORD> <purpose>" of a body (KW-1); `ok` if the purpose is the keyword's own.
class _Instruction(NamedTuple):
    keyword: Keyword
    purpose: Seq
    ok: bool


def _seqs(raw: Any, where: str) -> tuple[Seq, ...]:
    # YAML 1.1 reads bare yes/no/on/off as booleans: a silent "True" term would be a bug.
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigurationError(f"content_rules.yaml: {where} must be a list of strings")
    return tuple(seq for seq in (tuple(tokens(normalise(item))) for item in raw) if seq)


def _words(raw: Any, where: str) -> frozenset[str]:
    return frozenset(token for seq in _seqs(raw, where) for token in seq)


@cache
def _rules() -> _Rules:
    raw = yaml.safe_load(
        resources.files("app.compliance.data").joinpath("content_rules.yaml").read_bytes()
    )
    types: tuple[KeywordType, ...] = ("opt_out", "opt_in", "help")
    names = ("verbs", "weak_verbs", "skip", "alternatives", "markers", "neutral")
    try:
        kw1 = raw["kw1"]
        shaft = tuple(
            _Shaft(
                label=str(spec["label"]),
                age_gate_allows=spec["age_gate_allows"] is True,
                terms=_seqs(spec["terms"], f"shaft.{name}.terms"),
                exceptions=_seqs(spec["exceptions"], f"shaft.{name}.exceptions"),
            )
            for name, spec in raw["shaft"].items()
        )
        words = {name: _words(kw1[name], f"kw1.{name}") for name in names}
        words["joining"] = words["alternatives"] | words["markers"]
        words["breaks"] = words["alternatives"] | {",", ":"}
        return _Rules(
            shaft=shaft,
            words=words,
            allowed={t: _seqs(kw1["allowed"][t], f"kw1.allowed.{t}") for t in types},
            bare_verbs={t: _words(kw1["bare_verbs"][t], f"kw1.bare_verbs.{t}") for t in types},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"content_rules.yaml is malformed: {exc!r}") from exc


def _occurrences(words: Sequence[str], seq: Seq) -> list[int]:
    n = len(seq)
    return [i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == seq]


def _positions(words: Sequence[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        found.setdefault(word, []).append(i)
    return found


def _occurrences_at(words: Sequence[str], seq: Seq, positions: dict[str, list[int]]) -> list[int]:
    """`_occurrences`, looking only where the first word is: linear in the body for all terms
    together, where comparing every term at every position cost terms x words."""
    n = len(seq)
    return [i for i in positions.get(seq[0], ()) if tuple(words[i : i + n]) == seq]


def _shaft_reasons(words: list[str], age_gated: bool) -> list[str]:
    reasons: list[str] = []
    positions = _positions(words)
    for category in _rules().shaft:
        if age_gated and category.age_gate_allows:
            continue  # MSG-3: alcohol only behind a registered 21+ full-DOB age gate
        excused = {
            i + k
            for seq in category.exceptions
            for i in _occurrences_at(words, seq, positions)
            for k in range(len(seq))
        }
        hits = [
            " ".join(term)
            for term in category.terms
            for i in _occurrences_at(words, term, positions)
            if not excused.issuperset(range(i, i + len(term)))
        ]
        if hits:
            reasons.append(f"MSG-3 (SHAFT): {category.label} ({hits[0]!r})")
    return reasons


class _Scanner:
    """Finds the keyword instructions of one sentence (KW-1)."""

    def __init__(self, sentence: list[str], shouted: frozenset[str]) -> None:
        self.toks, self.shouted, self.rules = sentence, shouted, _rules()
        self.w = self.rules.words
        self.found: list[_Instruction] = []
        self.floor = 0
        """Where the last instruction read ended: the purpose before the next starts after it."""

    def at(self, i: int, words: str) -> bool:
        return i < len(self.toks) and self.toks[i] in self.w[words]

    def keyword_at(self, i: int, *, shouted: bool) -> tuple[Keyword, int] | None:
        for n in (3, 2, 1):  # longest first: "STOP ALL" before "STOP"
            words = self.toks[i : i + n]
            found = lexicon().keywords_by_key.get("".join(words), ()) if len(words) == n else ()
            kws = sorted(found, key=lambda kw: len(tokens(kw.spelling)) != n)  # "OPT OUT" as sent
            caps = all(w in self.shouted for w in words)
            # After a weak verb or without a verb, and for an ambiguous keyword ("Responda para
            # confirmar": PARA), only a keyword written in capitals is one.
            if kws and (caps or not (shouted or kws[0].canonical in lexicon().ambiguous_keywords)):
                return kws[0], i + n
        return None

    def purpose_after(self, i: int) -> tuple[Seq, int]:
        end = i
        while end < len(self.toks) and self.toks[end] not in (",", ":"):
            if self.at(end, "joining") and self.keyword_at(end + 1, shouted=False):
                break  # "... or HELP for help": the next instruction starts here
            end += 1
        return tuple(self.toks[i:end]), end

    def purpose_before(self, i: int) -> Seq:
        # "To pause delivery, reply STOP": the last clause before the verb states the purpose.
        # Read backwards, no further than the previous instruction, so every token is read a
        # bounded number of times however many instructions a sentence holds (linear work).
        end = i
        while end > self.floor and self.toks[end - 1] in (",", ":"):
            end -= 1
        start = end
        while start > self.floor and self.toks[start - 1] not in (",", ":"):
            start -= 1
        words = self.toks[start:end]
        return tuple(words[1:]) if words and words[0] in self.w["markers"] else ()

    def judge(self, kw: Keyword, purpose: Seq) -> bool:
        if any(_occurrences(purpose, seq) != [] for seq in self.rules.allowed[kw.type]):
            return True
        restating = self.rules.bare_verbs[kw.type] | self.w["neutral"]
        return all(word in restating for word in purpose)

    def read(self, match: tuple[Keyword, int], start: int) -> int:
        keywords, end = [match[0]], match[1]
        while self.at(end, "alternatives") and (more := self.keyword_at(end + 1, shouted=False)):
            keywords.append(more[0])
            end = more[1]
        if self.at(end, "markers"):
            purpose, end = self.purpose_after(end + 1)
        else:
            purpose = self.purpose_before(start)
        self.found += [_Instruction(kw, purpose, self.judge(kw, purpose)) for kw in keywords]
        self.floor = end
        return end

    def scan(self) -> list[_Instruction]:
        i = 0
        while i < len(self.toks):
            if self.at(i, "verbs") or self.at(i, "weak_verbs"):
                j = i + 1
                while self.at(j, "skip"):
                    j += 1
                if match := self.keyword_at(j, shouted=self.at(i, "weak_verbs")):
                    i = self.read(match, i)
                    continue
            # "..., STOP to opt out" / "Reply Y to confirm or STOP to opt out": no verb of its own.
            match = self.keyword_at(i, shouted=True) if i == 0 or self.at(i - 1, "breaks") else None
            if match and self.at(match[1], "markers"):
                i = self.read(match, i)
                continue
            i += 1
        return self.found


def _instructions(body: str, normalised: str) -> list[_Instruction]:
    capitals = " ".join(w for w in _RAW_WORD.findall(body) if len(w) > 1 and w.isupper())
    shouted = frozenset(tokens(normalise(capitals)))
    found: list[_Instruction] = []
    for sentence in _SENTENCE.split(normalised):
        found += _Scanner(_CLAUSE_TOKEN.findall(sentence), shouted).scan()
    return found


def _names_brand(body: str, words: list[str], brand_name: str) -> bool:
    brand = tuple(tokens(normalise(brand_name)))
    if not brand:  # a name without letters or digits ("***") can only be found verbatim
        return brand_name.strip() in body
    # "Acme's" folds to "acmes" (§5 drops in-word apostrophes): still the brand.
    possessive = (*brand[:-1], brand[-1] + "s")
    return bool(_occurrences(words, brand) or _occurrences(words, possessive))


def check_content(
    body: str,
    *,
    category: Category,
    brand_name: str,
    first_message: bool = False,
    max_chars: int = 320,
    age_gated: bool = False,
    has_media: bool = False,
) -> ContentVerdict:
    """What the content rules say about an outbound `body`; `ok` is False with reasons if any
    rule blocks it. `age_gated`: the program has a registered 21+ full-DOB age gate (MSG-3).
    `has_media`: a picture goes with it (an MMS needs no words; every other rule still applies
    to the words it has)."""
    size = count_segments(body)
    normalised = normalise(body)
    words = tokens(normalised)
    reasons = [] if words or has_media else ["the message has no text"]
    reasons += _shaft_reasons(words, age_gated)
    instructions = _instructions(body, normalised)
    reasons += [
        f"KW-1: asks for the reserved keyword {found.keyword.canonical} for another purpose "
        f"({' '.join(found.purpose)!r}); use a non-keyword reply such as 'reply C' or 'reply 2'"
        for found in instructions
        if not found.ok
    ]
    if category == "reply" and (len(body) > max_chars or size.segments > MAX_REPLY_SEGMENTS):
        reasons.append(
            f"MSG-1: reply is {len(body)} characters in {size.segments} {size.encoding} segments;"
            f" the limit is {max_chars} characters and {MAX_REPLY_SEGMENTS} segments"
        )
    if (first_message or category == "marketing") and not _names_brand(body, words, brand_name):
        reasons.append(f"MSG-2: the message does not name the brand {brand_name!r}")
    if (first_message or category == "marketing") and not any(
        found.ok and found.keyword.type == "opt_out" for found in instructions
    ):
        kind = "marketing" if category == "marketing" else "a conversation's first message"
        reasons.append(f"MSG-2: {kind} without opt-out instructions ('Reply STOP to opt out')")
    return ContentVerdict(
        ok=not reasons, reasons=tuple(reasons), segments=size.segments, encoding=size.encoding
    )
