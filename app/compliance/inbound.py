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
from functools import cache

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
from app.compliance.own_products import names_own_product
from app.compliance.phrases import MESSAGE_NOUN, PhraseMatch, find_phrases
from app.compliance.resume import asks_to_resume

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


class _Spellings:
    """`OPT OUT`, `OPT-OUT` and `OPTOUT` share a key: report the one the customer typed.

    Finding it searches the whole text, so the answer is kept per key: a body repeating
    "opt out" thousands of times searches once, not once per repetition (linear work).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._stretched: str | None = None
        self._picked: dict[tuple[Keyword, ...], Keyword] = {}

    def pick(self, keywords: tuple[Keyword, ...]) -> Keyword:
        if len(keywords) == 1:
            return keywords[0]
        picked = self._picked.get(keywords)
        if picked is None:
            picked = self._picked[keywords] = self._typed(keywords)
        return picked

    def _typed(self, keywords: tuple[Keyword, ...]) -> Keyword:
        # Compare collapsed forms too: "opt ouuut" was typed as OPT OUT (NORM-6).
        if self._stretched is None:
            self._stretched = collapse_runs(self.text)
        typed = [
            kw
            for kw in keywords
            if kw.spelling in self.text or collapse_runs(kw.spelling) in self._stretched
        ]
        if typed:
            return max(typed, key=lambda kw: len(kw.spelling))
        plain = [kw for kw in keywords if kw.spelling == kw.key]
        return plain[0] if plain else keywords[0]


def _parse_keywords(words: list[str], lex: Lexicon, spellings: _Spellings) -> list[Keyword] | None:
    """Split `words` into consecutive runs that each spell a keyword, or None.

    `s t o p` is one run spelling STOP; `STOP STOP` and `HELP STOP` are two runs.
    Linear in the number of words: a run stops growing once its collapsed letters are no
    keyword's prefix, and after `2 * longest_key` words (a keyword spelled out letter by
    letter, with room for stretched letters: `s t o o p`), so "s s s s ..." costs no more
    than any other text.
    """
    collapsed_words = [collapse_runs(w) for w in words]
    if not words or any(c not in lex.key_fragments for c in collapsed_words):
        return None
    n = len(words)
    # reached[end] = (start, keyword): the last run of one parse of words[:end]. Back-pointers,
    # not lists copied at every step, so a body of a thousand STOPs stays linear.
    reached: list[tuple[int, Keyword] | None] = [None] * (n + 1)
    for start in range(n):
        if start > 0 and reached[start] is None:
            continue
        piece = ""
        collapsed = ""
        for end in range(start, min(n, start + 2 * lex.longest_key)):
            piece += words[end]
            more = collapsed_words[end]
            # Joining two collapsed runs can create one new run at the seam ("s" + "s").
            collapsed += more[1:] if collapsed and more and collapsed[-1] == more[0] else more
            if collapsed not in lex.key_prefixes:
                break
            found = lex.keywords_by_key.get(piece) or lex.keywords_by_collapsed_key.get(collapsed)
            if found and reached[end + 1] is None:
                reached[end + 1] = (start, spellings.pick(found))
    if reached[n] is None:
        return None
    parsed: list[Keyword] = []
    end = n
    while end > 0:
        step = reached[end]
        assert step is not None  # every reached end was reached from a reached start
        end, keyword = step
        parsed.append(keyword)
    return parsed[::-1]


@cache
def _by_first_word(
    sequences: tuple[tuple[str, ...], ...],
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word sequences by their first word, in their given order: each position of a body is
    compared with the few sequences that can start there, not with all of them."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for sequence in sequences:
        index.setdefault(sequence[0], []).append(sequence)
    return {word: tuple(found) for word, found in index.items()}


def _neutralise(words: list[str], lex: Lexicon) -> list[str]:
    """NORM-7: blank out guard sequences and negated revocation verbs."""
    out = list(words)
    guards = _by_first_word(lex.guards)
    i = 0
    while i < len(out):
        for guard in guards.get(out[i], ()):
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


def _whole_message(
    words: list[str], state: ConsentState, lex: Lexicon, spellings: _Spellings
) -> _Hit | None:
    """Tier 1: the message, fillers removed, is nothing but keywords."""
    parsed = _parse_keywords(_strip(words, lex.fillers), lex, spellings)
    if parsed is None or not any(kw.type == "opt_out" for kw in parsed):
        # `me again back` are fillers for HELP and opt-in only: "help me" is HELP, while
        # "unsubscribe me" is the P3 phrase, not a whole-message keyword.
        extended = _parse_keywords(
            _strip(words, lex.fillers | lex.fillers_help_opt_in), lex, spellings
        )
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


def _clause_keyword(segs: list[_Segment], lex: Lexicon, spellings: _Spellings) -> _Hit | None:
    """Tier 3: some clause, fillers removed, is an opt-out keyword."""
    for s, seg in enumerate(segs):
        for clause in seg.clauses:
            indices = _strip_indexed(list(clause), seg.guarded, lex.fillers)
            parsed = _parse_keywords([seg.guarded[i] for i in indices], lex, spellings)
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
    segs: list[_Segment], lex: Lexicon, spellings: _Spellings, marketing_scope_allowed: bool
) -> _Hit | None:
    """Tier 2: a revocation phrase in some segment."""
    found = [(s, m) for s, seg in enumerate(segs) for m in _phrase_matches(seg, lex)]
    if not found:
        return None
    # The widest match names the phrase ("how do I stop these texts" is P9, not P2); together
    # the matches cover what the customer said about our messages.
    _, widest = max(found, key=lambda item: item[1].last - item[1].first)
    scope: Scope = "all"
    if marketing_scope_allowed and _names_only_marketing(segs, found, lex, spellings):
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
    segs: list[_Segment],
    found: list[tuple[int, PhraseMatch]],
    lex: Lexicon,
    spellings: _Spellings,
) -> bool:
    """SCOPE-2: every revocation in the message is about marketing, and no keyword clause."""
    bare = lex.messaging_words | lex.fillers | lex.clause_conjunctions | {"or", "nor"}
    # Later segments count only when made of messaging words alone ("Stop the promos, and the
    # reminders"): whether any segment after s does is computed once, from the end, so a
    # message of many segments is read once rather than once per match (linear work).
    later = [False] * (len(segs) + 1)
    for t in range(len(segs) - 1, -1, -1):
        words = segs[t].words
        later[t] = later[t + 1] or (
            all(word in bare for word in words) and _names_other_messages(words, "", lex, bare)
        )
    for s, match in found:
        seg = segs[s]
        clause = seg.clause_of(match.first)
        if not any(seg.words[i] in lex.marketing_words for i in clause):
            return False
        start = match.last + 1
        previous = seg.words[start - 1] if start > 0 else ""
        if later[s + 1] or _names_other_messages(seg.words[start:], previous, lex, bare):
            return False
    return _clause_keyword(segs, lex, spellings) is None


def _names_other_messages(
    words: list[str], previous: str, lex: Lexicon, bare: frozenset[str]
) -> bool:
    """Does the object go on to name other messages: `stop the promos and (the) texts`?

    The words after the match are read while they are only messaging words, fillers and
    conjunctions (no new verb, as in "but keep order updates").
    """
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
    patterns = _by_first_word(lex.crisis_patterns)
    for i, word in enumerate(words):
        for pattern in patterns.get(word, ()):
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


def _residual(
    segs: list[_Segment], lex: Lexicon, own_products: frozenset[tuple[str, ...]]
) -> _Hit | None:
    """Tier 5: a clause that opens with an opt-out verb aimed at nothing but us (`stop it`).

    RES-1: a verb aimed at one of the brand's own products ("cancel my acme club") is not.
    """
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
            if (
                _about_something_else(after, lex)
                or names_own_product(after, own_products)
                or (
                    verb in lex.residual_verbs_needing_messaging_object
                    and not _only_about_messages(after, lex)
                )
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
    spellings = _Spellings(text)

    hit: _Hit | None
    if not words:
        hit = _Hit("opt_out", "emoji", scope="all") if _is_emoji_stop(body, lex) else None
    else:
        hit = (
            _whole_message(words, state, lex, spellings)
            or _phrase(segs, lex, spellings, marketing_scope_allowed)
            or _clause_keyword(segs, lex, spellings)
        )
        # IN-9: crisis language suppresses the fuzzy and residual rules.
        if hit is None and not crisis:
            hit = _typo(words, lex) or _residual(segs, lex, policy.own_products)
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
    reply = _REPLY_FOR[hit.action]
    if hit.action == "pass":
        reply_policy = "normal"
        if state.status == "opted_out":
            reply_policy = "no_reply" if policy.strict_mode else "single_response_no_marketing"
            words = [w for seg in segs for w in seg.words]
            if reply_policy != "no_reply" and not crisis and asks_to_resume(words):
                # AI-3: the one reply IN-7 allows is the instruction to text START; the AI
                # adds nothing (it could only repeat it or promise what IN-5 forbids).
                reply, reply_policy = "resume_instruction", "no_reply"
    return InboundDecision(
        action=hit.action,
        new_state=new_state.status,
        state_changed=new_state != state,
        reply=reply,
        forward_to_ai=hit.action == "pass" and reply is None,
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
