"""Where a recipient is: time zones and state of a phone number (SPEC §10.2 TZ-1..TZ-3, QH-4).

Zones come from libphonenumber's exchange-level data; the state from the checked-in NPA table
`data/npa_states.csv` (built by `scripts/build_npa_states.py`) with the geocoder as fallback.
Everything here is a pure function of the number, cached.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as pn_timezone

from app.compliance.parsing import parse_phone
from app.errors import ConfigurationError, InvalidInput

UNKNOWN_ZONE = "Etc/Unknown"
MAX_ZONES = 4
"""More zones = a country-level list (toll-free, non-geographic): location unknown (TZ-2)."""

TERRITORIES = frozenset({"PR", "GU", "VI", "AS", "MP"})
US_SCOPE = frozenset({"US"}) | TERRITORIES
"""QH-4: US and its territories are in scope; every other region (Canada too) is not."""

TRANSACTIONAL_FALLBACK_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
"""QH-5: an unknown location holds transactional texts to 08-21 in all of these at once."""

_STATE_NAMES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "Washington State": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
    "Washington D.C.": "DC",
    "District of Columbia": "DC",
    "Puerto Rico": "PR",
    "Guam": "GU",
    "U.S. Virgin Islands": "VI",
    "American Samoa": "AS",
    "Northern Mariana Islands": "MP",
}
STATE_CODES = frozenset(_STATE_NAMES.values())


def state_from_description(description: str) -> str | None:
    """`Pensacola, FL` -> FL, `Florida` -> FL, `Washington State` -> WA; None if not a US place."""
    text = description.strip()
    if text in _STATE_NAMES:
        return _STATE_NAMES[text]
    tail = text.rsplit(",", 1)[-1].strip()
    if tail in STATE_CODES:
        return tail
    return _STATE_NAMES.get(tail)


@dataclass(frozen=True, slots=True)
class Location:
    """What the gate knows about where a number's owner is."""

    e164: str
    region: str | None
    """ISO region of the number (`US`, `PR`, `CA`...)."""
    zones: tuple[str, ...]
    """Zones to evaluate, in phonenumbers' order (or the verified zone); empty = unknown (QH-4)."""
    reported_zones: tuple[str, ...]
    """What phonenumbers returned, for the decision's explanation."""
    state: str | None
    """State or territory of the area code (TZ-3); None outside the US or when unknown."""
    verified: bool

    @property
    def in_us_scope(self) -> bool:
        """QH-4: US states and the territories PR, GU, VI, AS, MP."""
        return self.region in US_SCOPE


@cache
def zone(name: str) -> ZoneInfo:
    """An IANA zone via `zoneinfo` + `tzdata`, so DST transitions are exact (TZ-1)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown IANA time zone: {name!r:.80}") from None


@cache
def npa_states() -> dict[str, str]:
    """The checked-in NPA -> state table (TZ-3), validated once."""
    raw = resources.files("app.compliance.data").joinpath("npa_states.csv").read_text("utf-8")
    table: dict[str, str] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(raw)), start=2):
        npa, state = row.get("npa") or "", row.get("state") or ""
        if not (len(npa) == 3 and npa.isdigit() and state in STATE_CODES) or npa in table:
            raise ConfigurationError(f"npa_states.csv line {line}: bad or duplicate row {row}")
        table[npa] = state
    return table


def parse_number(to: str) -> phonenumbers.PhoneNumber:
    """The number behind `to`, which must be a valid number written as +<country><number>."""
    return parse_phone(to, require_valid=True)


def _state(number: phonenumbers.PhoneNumber, region: str | None) -> str | None:
    if region in TERRITORIES:
        return region
    if region != "US":
        return None
    npa = str(number.national_number)[:3]
    found = npa_states().get(npa)
    if found is None:
        # TZ-3: the geocoder is the fallback for NPAs added after the table was built.
        found = state_from_description(geocoder.description_for_number(number, "en"))
    return found


@lru_cache(maxsize=16384)
def locate(to: str, verified_time_zone: str | None = None) -> Location:
    """Zones and state of `to` (TZ-1..TZ-3); `InvalidPhoneNumber` if it is not a valid number."""
    number = parse_number(to)
    region = phonenumbers.region_code_for_number(number)
    reported = tuple(pn_timezone.time_zones_for_number(number))
    if verified_time_zone is not None:
        zone(verified_time_zone)  # reject an unknown zone before it is used
        zones: tuple[str, ...] = (verified_time_zone,)
    elif UNKNOWN_ZONE in reported or len(reported) > MAX_ZONES or not reported:
        zones = ()
    else:
        zones = reported
    return Location(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        zones=zones,
        reported_zones=reported,
        state=_state(number, region),
        verified=verified_time_zone is not None,
    )
