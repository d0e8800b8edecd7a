"""The fixed compliance replies of SPEC §8: HELP, opt-out and opt-in confirmations.

The words live in `data/replies.yaml` (one place for what customers read); this module fills them
from a `Brand` and picks the variant that fits: one GSM-7 segment where possible, never more than
two (§8, MSG-1). A `Brand` that cannot meet that for every reply is refused when it is built, so
`reply_text` never has to send an over-long confirmation within the FCC-3 5-minute window.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from string import Formatter
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml

from app.compliance.model import Language, ReplyKind, Scope
from app.compliance.segments import count_segments
from app.errors import ConfigurationError, InvalidInput

if TYPE_CHECKING:
    from app.config import Settings

TemplateId = Literal[
    "help",
    "opt_out_confirmation",
    "opt_out_confirmation_marketing",
    "opt_in_confirmation",
    "resume_instruction",
]
MAX_SEGMENTS = 2
"""§8: a compliance reply is never longer than two segments."""

_TEMPLATE_IDS: tuple[TemplateId, ...] = get_args(TemplateId)
_LANGUAGES: tuple[Language, ...] = get_args(Language)
_FIELDS = frozenset({"brand", "phone", "url", "frequency", "program"})
# Unicode categories dropped from settings values: emoji and symbols, their modifiers, joiners
# and selectors (§8: no emoji). Typographic characters pasted into settings get GSM-7 twins.
_DROPPED = frozenset({"So", "Sk", "Mn", "Cf", "Cs"})
_TWINS = {"’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-"}


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Catalogue:
    templates: dict[tuple[TemplateId, Language], tuple[_Variant, ...]]
    translations: dict[Language, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Brand:
    """The business as its compliance replies name it (§8.1-§8.3).

    Building one renders every reply once: settings too long for two segments raise
    `ConfigurationError` at start-up instead of at the first STOP.
    """

    name: str
    support_phone: str
    support_url: str
    support_url_es: str
    message_frequency: str
    program_description: str

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, str) or "\n" in value or "\r" in value:
                raise ConfigurationError(f"brand {field.name} must be a single line of text")
        if not self.name.strip():
            raise ConfigurationError("brand name must not be empty (MSG-2)")
        _check_fits(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> Brand:
        """The brand of the `SMSDESK_*` settings."""
        return cls(
            name=settings.brand_name,
            support_phone=settings.support_phone,
            support_url=settings.support_url,
            support_url_es=settings.support_url_es,
            message_frequency=settings.message_frequency,
            program_description=settings.program_description,
        )


def _strings(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise ConfigurationError(f"replies.yaml: {where} must be a non-empty list")
    for item in raw:
        # YAML 1.1 reads bare YES/NO/ON/OFF as booleans: a reply saying "True" would be a bug.
        if not isinstance(item, str):
            raise ConfigurationError(f"replies.yaml: {where}: {item!r} is not a string (quote it)")
    return raw


def _variant(text: str, where: str) -> _Variant:
    names: set[str] = set()
    for _, name, spec, conversion in Formatter().parse(text):
        if name is None:
            continue
        if name not in _FIELDS or spec or conversion:
            raise ConfigurationError(f"replies.yaml: {where}: bad field {{{name}}}")
        names.add(name)
    # MSG-2 and §8: every reply names the brand; §8: straight quotes, no emoji, no accents.
    if "brand" not in names:
        raise ConfigurationError(f"replies.yaml: {where}: a variant without {{brand}}")
    if count_segments(text).encoding != "GSM-7":
        raise ConfigurationError(f"replies.yaml: {where}: a character outside GSM-7")
    return _Variant(text, frozenset(names))


@cache
def _catalogue() -> _Catalogue:
    raw = yaml.safe_load(
        resources.files("app.compliance.data").joinpath("replies.yaml").read_bytes()
    )
    try:
        if set(raw["templates"]) != set(_TEMPLATE_IDS):
            raise ConfigurationError(f"replies.yaml: templates must be exactly {_TEMPLATE_IDS}")
        templates = {
            (template, language): tuple(
                _variant(text, f"{template}/{language}")
                for text in _strings(raw["templates"][template][language], f"{template}/{language}")
            )
            for template in _TEMPLATE_IDS
            for language in _LANGUAGES
        }
        translations: dict[Language, dict[str, str]] = {
            language: {str(key): str(value) for key, value in raw["translations"][language].items()}
            for language in _LANGUAGES
            if language != "en"
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"replies.yaml is malformed: missing {exc}") from exc
    return _Catalogue(templates, translations)


def _gsm_fold(value: str) -> str:
    """`value` in GSM-7 where it can be: accents and typographic quotes folded, emoji dropped.

    §8 drops accents on purpose ("varia", "Envie") and wants no emoji: one "í" or one emoji in a
    brand name would turn every reply into UCS-2 and double its segments. Letters without a
    plain twin (other scripts) stay as they are.
    """
    folded = []
    for char in unicodedata.normalize("NFC", value):
        if count_segments(char).encoding != "GSM-7":
            twin = _TWINS.get(char) or "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            if unicodedata.category(char) in _DROPPED:
                char = ""  # "Acme™ 🚀" -> "Acme": a symbol is no part of the name to read
            elif twin and count_segments(twin).encoding == "GSM-7":
                char = twin
        folded.append(char)
    return " ".join("".join(folded).split())


def _values(brand: Brand, language: Language) -> dict[str, str]:
    words = _catalogue().translations.get(language, {})

    def translated(value: str) -> str:
        # Templates add the full stop themselves; a configured "Up to 4 msgs/mo." must not
        # end up with two.
        value = value.strip().rstrip(".").strip()
        return words.get(value, value)

    values = {
        "brand": brand.name.strip(),
        "phone": brand.support_phone.strip(),
        "url": (brand.support_url_es if language == "es" else brand.support_url).strip(),
        "frequency": translated(brand.message_frequency),
        "program": translated(brand.program_description),
    }
    return {name: _gsm_fold(value) for name, value in values.items()}


def _template_id(kind: ReplyKind, scope: Scope | None) -> TemplateId:
    if scope not in (None, "all", "marketing"):
        raise InvalidInput(f"unknown opt-out scope {scope!r}")
    if kind == "opt_out_confirmation" and scope == "marketing":
        return "opt_out_confirmation_marketing"  # SCOPE-2, template §8.2 (b)
    if kind not in _TEMPLATE_IDS:
        raise InvalidInput(f"unknown reply kind {kind!r}")
    return kind


def _render(template: TemplateId, language: Language, brand: Brand) -> str:
    variants = _catalogue().templates.get((template, language))
    if variants is None:
        raise InvalidInput(f"no {template} reply in language {language!r}")
    values = _values(brand, language)
    two_segments: str | None = None
    for variant in variants:
        # A variant that needs an empty setting (no support URL) would read "Help at  or".
        if any(not values[name] for name in variant.fields):
            continue
        text = variant.text.format(**values)
        segments = count_segments(text).segments
        if segments == 1:
            return text
        if segments <= MAX_SEGMENTS and two_segments is None:
            two_segments = text
    if two_segments is None:
        raise ConfigurationError(
            f"no {template}/{language} reply fits {MAX_SEGMENTS} segments with this brand "
            "(shorten the brand settings or fill the empty ones)"
        )
    return two_segments


@cache
def _check_fits(brand: Brand) -> None:
    for template in _TEMPLATE_IDS:
        for language in _LANGUAGES:
            _render(template, language, brand)


def reply_text(
    kind: ReplyKind, *, language: Language, brand: Brand, scope: Scope | None = None
) -> str:
    """The §8 reply of `kind` in `language`, filled for `brand`.

    `scope` matters only for the opt-out confirmation: "marketing" selects the SCOPE-2 text of
    §8.2 (b); None and "all" select §8.2 (a). Other kinds ignore it.
    """
    return _render(_template_id(kind, scope), language, brand)
