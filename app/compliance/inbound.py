"""The inbound decision procedure of SPEC §6: what a text means for consent, without any AI.

Tiers run in the SPEC's order and the first hit wins: empty/emoji, whole-message keywords,
revocation phrases, clause keywords, crisis language, typos, residual imperatives, pass.
Borderline inputs resolve toward opt-out (§6.4): a missed revocation costs $500-$1,500 per
later message, a false one costs a confirmation and a START.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz.distance import DamerauLevenshtein

from app.compliance.lexicon import Keyword, Lexicon, lexicon, ruleset_version
from app.compliance.model import (
    SUBSCRIBED,
    Action,
    ConsentState,
    InboundDecision,
    Language,
    Match,
    Policy,
    ReplyKind,
    Scope,
)
from app.compliance.normalise import collapse_runs, normalise, segments
from app.compliance.phrases import MESSAGE_NOUN, PhraseMatch, find_phrases

NEUTRAL = "~"
_TIME = re.compile(r"^\d{1,4}(?:am|pm|h|hrs?|st|nd|rd|th)$|^\d{1,2}h\d{2}(?:am|pm)?$")
# §5 item 9 splits segments on `: . ,`, but inside a number they are no sentence punctuation:
# "Cancel my 3:30 appointment" must keep its clock time and its noun in the verb's clause.
_CLOCK = re.compile(r"(?<![\d.,:])(\d{1,2}):(\d{2})(?![\d.,:]?\d)")
_IN_NUMBER = re.compile(r"(?<=\d)[.,:](?=\d)")
_DIGITS = re.compile(r"^\d+$")
_REPLY_FOR: dict[Action, ReplyKind | None] = {
    "opt_out": "opt_out_confirmation",
    "opt_in": "opt_in_confirmation",
    "help": "help",
    "pass": None,
}


@dataclass(slots=True)
class _Segment:
    words: list[str]
    guarded: list[str]
    clauses: list[range] = field(default_factory=list)

    def clause_of(self, index: int) -> range:
        for clause in self.clauses:
            if index in clause:
                return clause
        return range(index, index + 1)


@dataclass(frozen=True, slots=True)
class _Hit:
    action: Action
    match: Match
    keyword: Keyword | None = None
    phrase_id: str | None = None
    ambiguous: bool = False
    scope: Scope | None = None
    covered: frozenset[tuple[int, int]] = frozenset()
    """(segment, token) positions the match explains; whatever else remains is a hand-off."""


def _strip(words: list[str], fillers: frozenset[str]) -> list[str]:
    kept = [w for w in words if w not in fillers]
    return kept if kept else words


def _strip_indexed(indices: list[int], words: list[str], fillers: frozenset[str]) -> list[int]:
    kept = [i for i in indices if words[i] not in fillers]
    return kept if kept else indices


def _pick_spelling(keywords: tuple[Keyword, ...], text: str) -> Keyword:
    """`OPT OUT`, `OPT-OUT` and `OPTOUT` share a key: report the one the customer typed."""
    if len(keywords) == 1:
        return keywords[0]
    # Compare collapsed forms too: "opt ouuut" was typed as OPT OUT (NORM-6).
    stretched = collapse_runs(text)
    typed = [
        kw for kw in keywords if kw.spelling in text or collapse_runs(kw.spelling) in stretched
    ]
    if typed:
        return max(typed, key=lambda kw: len(kw.spelling))
    plain = [kw for kw in keywords if kw.spelling == kw.key]
    return plain[0] if plain else keywords[0]


def _parse_keywords(words: list[str], lex: Lexicon, text: str) -> list[Keyword] | None:
    """Split `words` into consecutive runs that each spell a keyword, or None.

    `s t o p` is one run spelling STOP; `STOP STOP` and `HELP STOP` are two runs.
    """
    if not words or any(collapse_runs(w) not in lex.key_fragments for w in words):
        return None
    n = len(words)
    best: list[list[Keyword] | None] = [None] * (n + 1)
    best[0] = []
    for start in range(n):
        so_far = best[start]
        if so_far is None:
            continue
        piece = ""
        for end in range(start, n):
            piece += words[end]
            collapsed = collapse_runs(piece)
            if len(collapsed) > lex.longest_key:
                break
            found = lex.keywords_by_key.get(piece) or lex.keywords_by_collapsed_key.get(collapsed)
            if found and best[end + 1] is None:
                best[end + 1] = [*so_far, _pick_spelling(found, text)]
    return best[n]


def _neutralise(words: list[str], lex: Lexicon) -> list[str]:
    """NORM-7: blank out guard sequences and negated revocation verbs."""
    out = list(words)
    i = 0
    while i < len(out):
        for guard in lex.guards:
            if tuple(out[i : i + len(guard)]) == guard:
                out[i : i + len(guard)] = [NEUTRAL] * len(guard)
                i += len(guard) - 1
                break
        i += 1
    for i, word in enumerate(out):
        if word not in lex.revocation_verbs:
            continue
        for negation in lex.negations:
            if i >= len(negation) and tuple(words[i - len(negation) : i]) == negation:
                out[i] = NEUTRAL
                break
    return out


def _analyse(words: list[str], lex: Lexicon) -> _Segment:
    segment = _Segment(words, _neutralise(words, lex))
    start = 0
    for i, word in enumerate([*segment.guarded, None]):
        if word is None or word in lex.clause_conjunctions:
            if i > start:
                segment.clauses.append(range(start, i))
            start = i + 1
    return segment


def _join_numbers(text: str) -> str:
    """`3:30` -> `3h30` (a time token), `1,000.50` -> `100050`: one token, no segment break."""
    return _IN_NUMBER.sub("", _CLOCK.sub(r"\1h\2", text))


def _is_emoji_stop(body: str, lex: Lexicon) -> bool:
    visible = [
        ch
        for ch in unicodedata.normalize("NFKC", body)
        if not ch.isspace()
        and unicodedata.category(ch) != "Cf"
        and not ("\ufe00" <= ch <= "\ufe0f")
    ]
    return bool(visible) and all(ch in lex.opt_out_emoji for ch in visible)


def _whole_message(words: list[str], state: ConsentState, lex: Lexicon, text: str) -> _Hit | None:
    """Tier 1: the message, fillers removed, is nothing but keywords."""
    parsed = _parse_keywords(_strip(words, lex.fillers), lex, text)
    if parsed is None or not any(kw.type == "opt_out" for kw in parsed):
        # `me again back` are fillers for HELP and opt-in only: "help me" is HELP, while
        # "unsubscribe me" is the P3 phrase, not a whole-message keyword.
        extended = _parse_keywords(_strip(words, lex.fillers | lex.fillers_help_opt_in), lex, text)
        if extended is not None and all(kw.type != "opt_out" for kw in extended):
            parsed = extended
    if parsed is None:
        return None
    everything = frozenset((-1, i) for i in range(len(words)))
    for kw_type in ("opt_out", "opt_in", "help"):
        for kw in parsed:
            if kw.type != kw_type:
                continue
            if state.status == "subscribed" and kw.canonical in lex.opt_in_only_when_opted_out:
                continue
            spelled_out = any(len(w) == 1 for w in words) and len(kw.key) > 1
            ambiguous = spelled_out or kw.canonical in lex.ambiguous_keywords
            return _Hit(kw.type, "exact", kw, ambiguous=ambiguous, covered=everything)
    return _Hit("pass", "none")  # only YES, while subscribed


def _clause_keyword(segs: list[_Segment], lex: Lexicon, text: str) -> _Hit | None:
    """Tier 3: some clause, fillers removed, is an opt-out keyword."""
    for s, seg in enumerate(segs):
        for clause in seg.clauses:
            indices = _strip_indexed(list(clause), seg.guarded, lex.fillers)
            parsed = _parse_keywords([seg.guarded[i] for i in indices], lex, text)
            opt_outs = [kw for kw in parsed or () if kw.type == "opt_out"]
            if opt_outs:
                covered = frozenset((s, i) for i in clause)
                return _Hit("opt_out", "clause", opt_outs[0], covered=covered, scope="all")
    return None


def _phrase_matches(seg: _Segment, lex: Lexicon) -> list[PhraseMatch]:
    """Phrase matches in a segment, on its guarded words with and without fillers."""
    matches = find_phrases(seg.guarded)
    kept = [i for i, w in enumerate(seg.guarded) if w not in lex.fillers]
    if 0 < len(kept) < len(seg.guarded):
        for m in find_phrases([seg.guarded[i] for i in kept]):
            matches.append(PhraseMatch(m.phrase, kept[m.first], kept[m.last]))
    return matches


def _phrase(
    segs: list[_Segment], lex: Lexicon, text: str, marketing_scope_allowed: bool
) -> _Hit | None:
    """Tier 2: a revocation phrase in some segment."""
    found = [(s, m) for s, seg in enumerate(segs) for m in _phrase_matches(seg, lex)]
    if not found:
        return None
    # The widest match names the phrase ("how do I stop these texts" is P9, not P2); together
    # the matches cover what the customer said about our messages.
    _, widest = max(found, key=lambda item: item[1].last - item[1].first)
    scope: Scope = "all"
    if marketing_scope_allowed and _names_only_marketing(segs, found, lex, text):
        scope = "marketing"
    covered = frozenset((s, i) for s, m in found for i in range(m.first, m.last + 1))
    return _Hit(
        "opt_out",
        "phrase",
        phrase_id=widest.phrase.id.rstrip("w"),
        ambiguous=widest.phrase.ambiguous,
        scope=scope,
        covered=covered,
    )


def _names_only_marketing(
    segs: list[_Segment], found: list[tuple[int, PhraseMatch]], lex: Lexicon, text: str
) -> bool:
    """SCOPE-2: every revocation in the message is about marketing, and no keyword clause."""
    for s, match in found:
        seg = segs[s]
        clause = seg.clause_of(match.first)
        if not any(seg.words[i] in lex.marketing_words for i in clause):
            return False
        if _names_other_messages(segs, s, match.last + 1, lex):
            return False
    return _clause_keyword(segs, lex, text) is None


def _names_other_messages(segs: list[_Segment], s: int, start: int, lex: Lexicon) -> bool:
    """Does the object go on to name other messages: `stop the promos and (the) texts`?

    The words after the match are read while they are only messaging words, fillers and
    conjunctions (no new verb, as in "but keep order updates"); later segments count only
    when they are made of such words alone ("Stop the promos, and the reminders").
    """
    bare = lex.messaging_words | lex.fillers | lex.clause_conjunctions | {"or", "nor"}
    tails = [segs[s].words[start:]] + [seg.words for seg in segs[s + 1 :]]
    for n, words in enumerate(tails):
        if n > 0 and not all(word in bare for word in words):
            continue
        previous = segs[s].words[start - 1] if n == 0 and start > 0 else ""
        for word in words:
            if word not in bare:
                break
            # "marketing texts" are still marketing; "promos and texts" are not only that.
            if (
                MESSAGE_NOUN.fullmatch(word)
                and word not in lex.marketing_words
                and previous not in lex.marketing_words
            ):
                return True
            previous = word
    return False


def _has_crisis(words: list[str], lex: Lexicon) -> bool:
    for i in range(len(words)):
        for pattern in lex.crisis_patterns:
            if tuple(words[i : i + len(pattern)]) == pattern:
                return True
    return False


def _typo(words: list[str], lex: Lexicon) -> _Hit | None:
    """Tier 4: a lone word one edit away from an opt-out keyword (`Stpo`, `Unsubscibe`)."""
    stripped = _strip(words, lex.fillers)
    if len(stripped) != 1:
        return None
    word = stripped[0]
    if len(word) < 4 or not word.isalpha() or word in lex.typo_exclusions:
        return None
    for target, canonical in lex.typo_targets.items():
        if DamerauLevenshtein.distance(word, target, score_cutoff=1) == 1:
            return _Hit(
                "opt_out",
                "fuzzy",
                lex.keyword(canonical),
                ambiguous=True,
                scope="all",
                covered=frozenset((-1, i) for i in range(len(words))),
            )
    return None


def _singulars(word: str) -> tuple[str, ...]:
    """The word and its possible singulars: `charges` -> charge, `parties` -> party."""
    if not word.endswith("s"):
        return (word,)
    found = [word, word[:-1]]
    if word.endswith("es"):
        found.append(word[:-2])
    if word.endswith("ies"):
        found.append(word[:-3] + "y")
    return tuple(found)


def _about_something_else(words: list[str], lex: Lexicon) -> bool:
    for word in words:
        if _TIME.match(word) or any(
            form in lex.non_messaging_nouns or form in lex.time_words for form in _singulars(word)
        ):
            return True
    return False


def _only_about_messages(words: list[str], lex: Lexicon) -> bool:
    return all(
        (w in lex.messaging_words and w not in lex.not_a_messaging_object)
        or w in lex.fillers
        or _DIGITS.match(w)
        for w in words
    )


def _residual(segs: list[_Segment], lex: Lexicon) -> _Hit | None:
    """Tier 5: a clause that opens with an opt-out verb aimed at nothing but us (`stop it`)."""
    for s, seg in enumerate(segs):
        for clause in seg.clauses:
            indices = _strip_indexed(list(clause), seg.guarded, lex.fillers)
            verb = seg.guarded[indices[0]]
            canonical = lex.residual_verbs.get(verb)
            if canonical is None:
                continue
            after = seg.guarded[indices[0] + 1 : clause.stop]
            if after and after[0] in lex.residual_prepositions:
                continue
            if _about_something_else(after, lex) or (
                verb in lex.residual_verbs_needing_messaging_object
                and not _only_about_messages(after, lex)
            ):
                continue
            return _Hit(
                "opt_out",
                "residual",
                lex.keyword(canonical),
                ambiguous=True,
                scope="all",
                covered=frozenset({(s, indices[0])}),
            )
    return None


def _handoff(segs: list[_Segment], hit: _Hit, lex: Lexicon) -> bool:
    """§6.3: does anything but the revocation itself, fillers and messaging words remain?"""
    if any(s == -1 for s, _ in hit.covered):
        return False
    ignorable = lex.fillers | lex.fillers_help_opt_in | lex.messaging_words
    ignorable |= lex.clause_conjunctions
    for s, seg in enumerate(segs):
        for i, word in enumerate(seg.words):
            if (s, i) in hit.covered or word in ignorable or _DIGITS.match(word):
                continue
            return True
    return False


def _language(hit: _Hit) -> Language:
    # IN-11: the reply follows the language of the matched keyword; phrases get the default.
    return hit.keyword.language if hit.keyword is not None else "en"


def classify(
    body: str,
    *,
    state: ConsentState = SUBSCRIBED,
    received_at: datetime | None = None,
    policy: Policy = Policy(),
) -> InboundDecision:
    """Decide what an inbound text means for consent (SPEC §6); pure and deterministic."""
    lex = lexicon()
    text = normalise(body)
    segs = [_analyse(words, lex) for words in segments(_join_numbers(text))]
    words = [w for seg in segs for w in seg.words]
    marketing_scope_allowed = (
        policy.marketing_only_revocations_until is not None
        and received_at is not None
        and received_at < policy.marketing_only_revocations_until
    )
    crisis = _has_crisis(words, lex)

    hit: _Hit | None
    if not words:
        hit = _Hit("opt_out", "emoji", scope="all") if _is_emoji_stop(body, lex) else None
    else:
        hit = (
            _whole_message(words, state, lex, text)
            or _phrase(segs, lex, text, marketing_scope_allowed)
            or _clause_keyword(segs, lex, text)
        )
        # IN-9: crisis language suppresses the fuzzy and residual rules.
        if hit is None and not crisis:
            hit = _typo(words, lex) or _residual(segs, lex)
    hit = hit or _Hit("pass", "none")
    return _decide(hit, state, segs, lex, text, crisis, policy)


def _decide(
    hit: _Hit,
    state: ConsentState,
    segs: list[_Segment],
    lex: Lexicon,
    text: str,
    crisis: bool,
    policy: Policy,
) -> InboundDecision:
    new_state = state
    if hit.action == "opt_out":
        scope = hit.scope or "all"
        if state.status == "opted_out" and state.scope == "all":
            scope = "all"
        new_state = ConsentState("opted_out", scope)
    elif hit.action == "opt_in":
        new_state = SUBSCRIBED
    reply_policy = None
    if hit.action == "pass":
        reply_policy = "normal"
        if state.status == "opted_out":
            reply_policy = "no_reply" if policy.strict_mode else "single_response_no_marketing"
    return InboundDecision(
        action=hit.action,
        new_state=new_state.status,
        state_changed=new_state != state,
        reply=_REPLY_FOR[hit.action],
        forward_to_ai=hit.action == "pass",
        keyword=hit.keyword.canonical if hit.keyword else None,
        phrase_id=hit.phrase_id,
        match=hit.match,
        reply_language=_language(hit),
        scope=new_state.scope if hit.action == "opt_out" else None,
        handoff=hit.action == "opt_out" and _handoff(segs, hit, lex),
        safety_escalation=crisis,
        ambiguous=hit.ambiguous,
        reply_policy=reply_policy,
        ruleset_version=ruleset_version(),
        normalised_text=text,
    )
