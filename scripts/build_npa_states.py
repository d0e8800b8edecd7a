"""Build `app/compliance/data/npa_states.csv`: US area code (NPA) -> state (SPEC §10.2 TZ-3).

Run once, review the diff, commit the CSV:

    PYTHONPATH=. .venv/bin/python scripts/build_npa_states.py

For every NPA that libphonenumber assigns to the US or a US territory, the script reads the
geocoder description of up to `SAMPLES` valid numbers in it ("Pensacola, FL", "Florida",
"Alaska") and keeps the state they agree on. NPAs without a geographic description
(toll-free 8XX, 5XX personal numbers, 900) are left out: the gate treats them as location
unknown. The gate falls back to the geocoder at run time for NPAs missing from the table.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import phonenumbers
from phonenumbers import geocoder

from app.compliance.timezones import US_SCOPE, state_from_description

OUT = Path(__file__).resolve().parents[1] / "app" / "compliance" / "data" / "npa_states.csv"
SAMPLES = 12
"""Exchanges sampled per NPA: one description could be a stray prefix entry."""


def _numbers(npa: int) -> list[phonenumbers.PhoneNumber]:
    """Up to SAMPLES valid numbers in the NPA, the fictional 555 exchange first."""
    found: list[phonenumbers.PhoneNumber] = []
    for nxx in [555, *range(200, 1000)]:
        number = phonenumbers.parse(f"+1{npa}{nxx:03d}0100")
        if phonenumbers.is_valid_number(number):
            found.append(number)
            if len(found) == SAMPLES:
                break
    return found


def state_for_npa(npa: int) -> str | None:
    """The state most sample numbers of the NPA are described in; None if none is."""
    votes: Counter[str] = Counter()
    for number in _numbers(npa):
        if phonenumbers.region_code_for_number(number) not in US_SCOPE:
            return None  # Canada and the other NANP countries are out of scope (QH-4)
        state = state_from_description(geocoder.description_for_number(number, "en"))
        if state is not None:
            votes[state] += 1
    if not votes:
        return None
    (state, _), *others = votes.most_common()
    if others:
        print(f"NPA {npa}: descriptions disagree {dict(votes)}; keeping {state}", file=sys.stderr)
    return state


def build() -> dict[int, str]:
    """NPA -> state for every geographic US/territory NPA libphonenumber knows."""
    table: dict[int, str] = {}
    for npa in range(200, 1000):
        if npa % 100 == 11:  # N11 codes are service codes, never area codes
            continue
        state = state_for_npa(npa)
        if state is not None:
            table[npa] = state
    return table


def main() -> None:
    table = build()
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["npa", "state"])
        for npa, state in sorted(table.items()):
            writer.writerow([npa, state])
    print(f"wrote {len(table)} NPAs to {OUT} (phonenumbers {phonenumbers.__version__})")


if __name__ == "__main__":
    main()
