"""Guardrails on every draft, local or LLM: a failed one escalates instead of sending.

Grounded: every fact a customer could act on (a number, price, time, date, link, e-mail or
phone number) must appear in the knowledge the draft was written from. The compliance layer's
content rules then apply as they will at send time: length and segments (MSG-1), brand and
opt-out instructions in a first message (MSG-2), SHAFT (MSG-3), reserved keywords (KW-1). An
opted-out customer may get an answer, never a promotion (AI-2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.compliance import check_content
from app.compliance.normalise import normalise

_LINK = re.compile(r"(?:https?://)?(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s,;)]*)?", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_PROMOTION = re.compile(
    r"\b(sale|discount|promo|promotion|coupon|deal|deals|offer|offers|% off|off your|"
    r"free shipping|limited time|buy now|shop now|subscribe)\b"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One guardrail's verdict on a draft."""

    name: str
    passed: bool
    detail: str = ""


def facts(text: str) -> set[str]:
    """The checkable facts of a text: links, e-mail addresses and numbers (normalised)."""
    lowered = text.lower()
    found = {
        m.group().rstrip(".").removeprefix("https://").removeprefix("http://")
        for m in _LINK.finditer(lowered)
    }
    found |= {m.group() for m in _EMAIL.finditer(lowered)}
    found |= {m.group().replace(",", "") for m in _NUMBER.finditer(lowered)}
    return found


def check_grounded(draft: str, sources: Sequence[str]) -> Check:
    """Every fact of the draft appears in the sources."""
    known: set[str] = set()
    for source in sources:
        known |= facts(source)
    invented = sorted(
        fact for fact in facts(draft) if fact not in known and not any(fact in k for k in known)
    )
    if invented:
        return Check("grounded", False, f"not in the knowledge used: {', '.join(invented)}")
    return Check("grounded", True)


def check_draft(
    draft: str,
    *,
    sources: Sequence[str],
    brand_name: str,
    first_message: bool,
    opted_out: bool,
    max_chars: int,
) -> tuple[Check, ...]:
    """Every guardrail's verdict on `draft` (all of them, so the console can show each)."""
    content = check_content(
        draft,
        category="reply",
        brand_name=brand_name,
        first_message=first_message,
        max_chars=max_chars,
    )
    promotion = _PROMOTION.search(normalise(draft)) if opted_out else None
    return (
        check_grounded(draft, sources),
        Check("content", content.ok, "; ".join(content.reasons)),
        Check(
            "no_marketing_to_opted_out",
            promotion is None,
            f"promotional wording {promotion.group()!r}" if promotion else "",
        ),
    )


def passed(checks: Sequence[Check]) -> bool:
    """Whether every guardrail passed."""
    return all(check.passed for check in checks)
