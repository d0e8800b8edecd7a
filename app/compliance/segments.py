"""How many SMS segments a body costs (SPEC §12 MSG-1).

GSM-7 bodies are counted in septets: 160 in a single SMS, 153 per segment once the message is
concatenated (the user-data header takes 7). The extension characters € [ ] { } \\ ^ ~ | are an
escape septet plus a character, so they count 2. One character outside GSM-7 switches the whole
body to UCS-2, counted in UTF-16 code units: 70 single, 67 concatenated, an emoji outside the
BMP counts 2 (a surrogate pair).

Segments are counted by packing, not by dividing: a handset never splits an escape pair or a
surrogate pair across two segments, so a 2-unit character that would straddle a boundary starts
the next segment and the previous one carries one unit less.

An empty body is 1 segment of 0 units: an SMS with no text is still one message on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec on import)

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE = 160
GSM7_CONCATENATED = 153
UCS2_SINGLE = 70
UCS2_CONCATENATED = 67
MAX_TEXT_CHARS = 1600
"""The longest text smsdesk takes in or sends out: ten concatenated segments, as carriers
allow (past that a text is a letter, not an SMS)."""

_ESCAPE = "\x1b"


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """The encoding and size of one message body."""

    encoding: Encoding
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole body."""
    segments: int
    """SMS segments the body is sent as; at least 1."""
    per_segment: int
    """Capacity of each segment as sent: 160/70 for a single SMS, 153/67 when concatenated."""


@lru_cache(maxsize=4096)
def _gsm_width(char: str) -> int | None:
    """Septets of one character in the GSM 03.38 default alphabet, or None if it has none."""
    # A bare ESC encodes to the escape septet alone, which a handset reads as the start of an
    # extension pair with the next character: it has no character of its own to send.
    if char == _ESCAPE:
        return None
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def _utf16_width(char: str) -> int:
    # Astral characters are a surrogate pair; a lone surrogate (possible in a Python str) is
    # one code unit, so counting never raises on any str.
    return 2 if ord(char) > 0xFFFF else 1


def _pack(widths: list[int], per_segment: int) -> int:
    """Segments needed when no character may straddle a boundary."""
    segments, used = 1, 0
    for width in widths:
        if used + width > per_segment:
            segments += 1
            used = 0
        used += width
    return segments


def count_segments(text: str) -> SegmentCount:
    """Encoding, units and segments of `text` as an SMS body (MSG-1). Never raises."""
    gsm_widths = [_gsm_width(char) for char in text]
    encoding: Encoding
    if all(width is not None for width in gsm_widths):
        encoding, single, concatenated = "GSM-7", GSM7_SINGLE, GSM7_CONCATENATED
        widths = [width for width in gsm_widths if width is not None]
    else:
        encoding, single, concatenated = "UCS-2", UCS2_SINGLE, UCS2_CONCATENATED
        widths = [_utf16_width(char) for char in text]
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1, single)
    return SegmentCount(encoding, units, _pack(widths, concatenated), concatenated)
