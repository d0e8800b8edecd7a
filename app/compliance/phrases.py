"""Tier 2 revocation phrases (SPEC §6 P1-P12), matched on a segment's tokens joined by spaces.

Patterns see guarded text: a neutralised token is `~`, which no pattern matches, so "don't stop
texting me" never reads as "stop texting me".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOUN = (
    r"(?:texts?|txts?|messages?|msgs?|sms|mms|notifications?|alerts?|promos?|promotions?|spam"
    r"|reminders?|updates|ads|emails|calls|marketing)"
)
_MOD = (
    r"(?:all|the|these|those|this|your|ur|my|any|more|further|future|text|txt|sms|marketing|promo"
    r"|promotional|automated|auto|daily|weekly|annoying|stupid|damn|dang|fucking|freaking|frickin"
    r"|spam|email|random|constant|endless|unwanted|repeated|frequent|many|of|sales|marketing)"
)
MESSAGE_NOUN = re.compile(_NOUN)
"""A word naming messages of some kind (`texts`, `alerts`, `promos`), for SCOPE-2."""
# What may follow "stop receiving" / "stop getting" for it to be about our messages: "stop getting
# charged" is a billing question, "stop getting these" is a revocation.
_RECEIVE_OBJECT = rf"(?:$| (?:{_MOD}|{_NOUN}|them|it|from|anything)\b)"
# "take me off ..." about a setting or a queue rather than our list: "take me off hold",
# "take me off autopay", "take me out of whisper mode".
_NOT_OUR_LIST = (
    r" (?:the |my |your |this )?(?:\w+ )?(?:hold|autopay|waitlist|wait list|mode|schedule"
    r"|shift|rota|roster)\b"
)
_TEXT_VERB = (
    r"(?:text|texting|txt|txting|message|messaging|contact|contacting|sms|bother|bothering|spam"
    r"|spamming|call|calling|email|emailing)"
)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One revocation phrase pattern."""

    id: str
    pattern: re.Pattern[str]
    ambiguous: bool = False


def _p(pid: str, regex: str, *, ambiguous: bool = False) -> Phrase:
    return Phrase(pid, re.compile(regex), ambiguous)


PHRASES: tuple[Phrase, ...] = (
    _p(
        "P1",
        r"\b(?:stop|quit|cease|end|halt|pause) (?:sending|texting|txting|messaging|contacting"
        r"|spamming|bothering|harassing|emailing|calling)\b"
        rf"|\b(?:stop|quit|cease|end|halt|pause) (?:receiving|getting){_RECEIVE_OBJECT}",
    ),
    _p("P2", rf"\b(?:stop|quit|cease|end|cancel|halt|pause) (?:{_MOD} ){{0,4}}{_NOUN}\b"),
    _p(
        "P3",
        r"^(?:unsubscribe|unsub|opt out|optout)(?: (?:me|us|my number|this number|my phone))?"
        r"(?: from\b.*)?$|\bopt (?:me|us|my number) out\b|\bunsubscribe (?:me|us)\b",
    ),
    _p(
        "P4",
        r"\b(?:remove|delete|erase) (?:me|us|my number|my phone|my cell|this number"
        r"|my info|my contact info|my information|my details)\b"
        rf"|\btake (?:me|us|my number|this number) (?:off|out of)\b(?!{_NOT_OUR_LIST})"
        r"|\bremove (?:me )?from (?:your|the|this|all|ur) (?:list|lists|texts|messages"
        r"|database|contacts|contact list|mailing list|text list|system)\b",
    ),
    _p(
        "P5",
        rf"\b(?:dont|do not|never|stop|quit) {_TEXT_VERB} (?:me|us|this number|my number)\b"
        r"|\b(?:dont|do not) (?:text|txt|contact|message|call|bother|email)(?: me| us)?"
        r" (?:again|anymore|ever)\b",
    ),
    _p(
        "P6",
        rf"\b(?:dont|do not|no longer) (?:want|wish|need) (?:to (?:receive|get) )?"
        rf"(?:{_MOD} ){{0,4}}{_NOUN}\b"
        r"|\b(?:dont|do not) wish to be contacted\b|\b(?:dont|do not) contact\b",
    ),
    _p("P7", rf"\bno (?:more|further) (?:{_MOD} ){{0,2}}(?:{_NOUN}|contact|texting)\b"),
    _p("P8", r"\b(?:leave me alone|lose my number|delete my number|cease and desist)\b"),
    _p("P8w", r"\bwrong (?:number|phone number|#)\b", ambiguous=True),
    _p(
        "P9",
        r"\bhow (?:do|can|to|would|should|does one)\b.{0,80}?\b(?:unsubscribe|unsub|opt out|optout"
        rf"|stop (?:these|those|receiving|{_NOUN}|(?:the|this|your|ur) {_NOUN}))\b",
        ambiguous=True,
    ),
    _p(
        "P10",
        r"\b(?:revoke|withdraw|rescind|retract) (?:my |all |any |of ){0,4}(?:consent|permission)\b",
    ),
    _p(
        "P11",
        r"^(?:i am |im |we are |were |i m )?not interested(?: anymore| at all)?$",
        ambiguous=True,
    ),
    _p(
        "P12",
        r"\bno (?:me |nos )?(?:envien|manden|escriban|contacten|envies|mandes|escribas|llamen)\b"
        r"|\bno (?:mas|quiero mas) (?:mensajes|textos|sms)\b"
        r"|\bdej(?:en|e|a) de (?:enviar|escribir|mandar|contactar)(?:me|nos)?\b"
        r"|\bno (?:quiero|deseo) (?:recibir )?(?:mas )?(?:mensajes|textos|sms)\b"
        r"|\b(?:darme|dame|denme|dar|deme) de baja\b",
    ),
)


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """A phrase found in a token list: which one, and the token positions it covers."""

    phrase: Phrase
    first: int
    last: int


def find_phrases(words: list[str]) -> list[PhraseMatch]:
    """Every phrase pattern that matches `words`, with the token span of its first match."""
    text = " ".join(words)
    found: list[PhraseMatch] = []
    for phrase in PHRASES:
        hit = phrase.pattern.search(text)
        if hit is None:
            continue
        first = text.count(" ", 0, hit.start())
        found.append(PhraseMatch(phrase, first, first + hit.group().strip().count(" ")))
    return found
