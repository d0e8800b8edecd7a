"""The specifics a customer put in a text: an order number, an amount, a date, an email
address, a card's last digits, a photo. A knowledge entry that asks the customer to text one
of these (`handoff_when_given`) is no answer to a text that already gives it: a person is.
"""

from __future__ import annotations

import re

from app.ai.knowledge import Specific

_ORDER = re.compile(r"(?:\b(?:ac|order|ord)|#)\s*-?\s*#?\s*\d{4,}\b|\b[a-z]{2}\d{5,}\b", re.I)
_AMOUNT = re.compile(
    r"\$\s?\d+(?:[.,]\d{1,2})?|\b\d+[.,]\d{2}\b|\b\d+\s?(?:dollars|bucks|usd)\b", re.I
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
)
_DATE = re.compile(
    rf"\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b"
    rf"|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?(?:{_MONTHS})\b"
    r"|\b(?:yesterday|ayer)\b",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(
    r"\b(?:ending|ends|last (?:4|four)(?: digits)?)\s*(?:in|with|are|is)?\s*\d{4}\b", re.I
)
_PHOTO = re.compile(
    r"\b(?:attached|here'?s a (?:photo|pic|picture)|sent (?:a|the) (?:photo|pic|picture)|(?:photo|"
    r"pic|picture) attached)\b",
    re.I,
)


def specifics(text: str, *, has_media: bool = False) -> set[Specific]:
    """Which specifics the text gives."""
    found: set[Specific] = set()
    if _ORDER.search(text):
        found.add("order_number")
    if _AMOUNT.search(text):
        found.add("amount")
    if _DATE.search(text):
        found.add("date")
    if _EMAIL.search(text):
        found.add("email")
    if _CARD.search(text):
        found.add("card_digits")
    if has_media or _PHOTO.search(text):
        found.add("photo")
    return found
