"""The words of a signup: the "Reply YES" request and the opt-in confirmation (SPEC §8.3).

They live in `texts.yaml`; this module fills them for the brand and the categories signed up
for, and picks the first variant that fits one GSM-7 segment (else two, never more, like the
compliance replies). The request must also pass the content rules (KW-1: YES asked for its own
purpose), so a brand whose settings break that is refused when the text is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Formatter
from typing import Literal

import yaml

from app.compliance import Brand, check_content, count_segments
from app.errors import ConfigurationError

TextKind = Literal["request", "confirmed"]
SignupCategory = Literal["marketing", "transactional"]
MAX_SEGMENTS = 2
_FIELDS = frozenset({"brand", "frequency", "what"})


@dataclass(frozen=True, slots=True)
class _Texts:
    subjects: dict[str, str]
    templates: dict[str, tuple[str, ...]]


@cache
def _texts() -> _Texts:
    raw = yaml.safe_load(resources.files("app.signups").joinpath("texts.yaml").read_bytes())
    try:
        subjects = {str(k): _string(v, f"subjects/{k}") for k, v in raw["subjects"].items()}
        templates = {
            kind: tuple(_string(t, f"templates/{kind}") for t in raw["templates"][kind])
            for kind in ("request", "confirmed")
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"signups/texts.yaml is malformed: missing {exc}") from exc
    if set(subjects) != {"transactional", "marketing", "marketing+transactional"}:
        raise ConfigurationError("signups/texts.yaml: subjects must name the three combinations")
    return _Texts(subjects, templates)


def _string(value: object, where: str) -> str:
    # YAML 1.1 reads bare YES/NO as booleans: a text saying "True" would be a bug.
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"signups/texts.yaml: {where} must be a quoted, non-empty string")
    return value


def subject(categories: Iterable[SignupCategory], brand: Brand) -> str:
    """What the customer signs up for, in words ("customer care texts and marketing texts")."""
    key = "+".join(sorted(set(categories)))
    template = _texts().subjects.get(key)
    if template is None:
        raise ConfigurationError(f"signups/texts.yaml: no subject for {key!r}")
    return template.format(program=_clean(brand.program_description))


def signup_text(kind: TextKind, *, categories: Iterable[SignupCategory], brand: Brand) -> str:
    """The request (`request`) or the confirmation (`confirmed`) for these categories."""
    values = {
        "brand": _clean(brand.name),
        "frequency": _clean(brand.message_frequency),
        "what": subject(categories, brand),
    }
    fallback: str | None = None
    for variant in _texts().templates[kind]:
        text = variant.format(**values)
        size = count_segments(text)
        if size.encoding != "GSM-7" or size.segments > MAX_SEGMENTS:
            continue
        if size.segments == 1:
            fallback = text
            break
        fallback = fallback or text
    if fallback is None:
        raise ConfigurationError(
            f"no signup {kind} text fits {MAX_SEGMENTS} GSM-7 segments with this brand "
            "(shorten SMSDESK_BRAND_NAME, SMSDESK_PROGRAM_DESCRIPTION or the frequency)"
        )
    if kind == "request":
        verdict = check_content(
            fallback, category="transactional", brand_name=brand.name, first_message=True,
            max_chars=1600,
        )  # fmt: skip
        if not verdict.ok:
            raise ConfigurationError(f"the signup request text breaks a content rule: {verdict}")
    return fallback


def _clean(value: str) -> str:
    # The templates add their own full stops: "Up to 4 msgs/mo." must not end with two.
    return " ".join(value.split()).rstrip(".").strip()


def check_templates() -> None:
    """Read the data file and check every field name (start-up and tests)."""
    for kind, variants in _texts().templates.items():
        for variant in variants:
            names = {name for _, name, _, _ in Formatter().parse(variant) if name}
            if not names <= _FIELDS or "brand" not in names or "what" not in names:
                raise ConfigurationError(f"signups/texts.yaml: {kind}: bad fields in {variant!r}")


__all__ = ["SignupCategory", "TextKind", "check_templates", "signup_text", "subject"]
