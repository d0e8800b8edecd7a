"""AI-3: an opted-out sender asking to get texts again, in words rather than a keyword.

IN-5 forbids resubscribing on anything but a whole-message opt-in keyword, so "start texting
me again" or "Subscribe" changes nothing; the customer is told once how to resume ("Reply
START to resume texts from <Brand>"), as the one reply IN-7 allows. Matched on the normalised
tokens of the whole message joined by spaces; every repeat is bounded (linear work).
"""

from __future__ import annotations

import re

_RESUME = re.compile(
    r"\b(?:start|resume|restart|continue|begin) (?:texting|txting|sending|messaging|contacting)"
    r" (?:me|us|(?:the |my )?(?:texts|messages|msgs|alerts))\b"
    r"|\b(?:start|resume|restart|turn on|unpause) (?:my |the |your |ur )?"
    r"(?:texts|messages|msgs|notifications|alerts)\b"
    r"|\b(?:turn|switch|put) (?:my |the |your |ur )?(?:texts|messages|msgs|notifications|alerts)"
    r" back on\b"
    r"|^(?:please |pls )?(?:re ?subscribe|subscribe|sign me up|opt in)(?: me| again| back){0,3}$"
    r"|\b(?:resubscribe|re subscribe)\b"
    r"|\bopt (?:me |us )?(?:back )?in\b|\bsign me (?:back )?up\b"
    r"|\b(?:want|like|get) (?:the |my |your |ur )?(?:texts|messages|alerts) (?:back|again)\b"
)


def asks_to_resume(words: list[str]) -> bool:
    """Does the message ask to start receiving texts again?"""
    return _RESUME.search(" ".join(words)) is not None
