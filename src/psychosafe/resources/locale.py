"""Turn whatever a caller knows about the user's place (a country code, a locale, a language) into a country.

Resources are chosen per country, and a wrong country shows wrong numbers, so a string that names no single
country resolves to None (the international fallback) rather than to a guess. Following BCP 47, an upper-case
pair is read as a country ("CA" → Canada) and a lower-case one first as a language ("ca" is Catalan → None).
"""

from __future__ import annotations

import re

from psychosafe.errors import InvalidCountryError
from psychosafe.resources.iso import COUNTRY_CODES, LANGUAGE_CODES

#: Common non-ISO spellings of a country code.
ALIASES: dict[str, str] = {"UK": "GB"}

#: Languages spoken as the main language of one country only; any other language alone names no country.
LANGUAGE_COUNTRY: dict[str, str] = {
    "de": "DE", "fr": "FR", "nl": "NL", "it": "IT", "es": "ES", "ja": "JP", "da": "DK", "sv": "SE",
}

#: POSIX locales that carry no place at all (LANG=C.UTF-8 is common on servers).
_NO_PLACE = {"C", "POSIX"}

_LANGUAGE_SUBTAG = re.compile(r"^[A-Za-z]{2,3}$")
_REGION_ALPHA = re.compile(r"^[A-Za-z]{2}$")
_REGION_NUMERIC = re.compile(r"^\d{3}$")


def resolve_country(value: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code `value` names, or None when it names no single country.

    Accepts "GB", "gb", "UK", "en-GB", "en_GB", "en_GB.UTF-8", "de-DE", "de". Raises InvalidCountryError for
    strings that are neither a country code nor a locale ("Narnia", "ZZ", "12").
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    base = re.split(r"[.@]", text, maxsplit=1)[0]  # drop ".UTF-8" and "@euro"
    if base in _NO_PLACE:
        return None
    parts = re.split(r"[-_]", base)
    if len(parts) == 1:
        return _resolve_single(base, value)
    if not _LANGUAGE_SUBTAG.match(parts[0]):
        raise _invalid(value)
    for part in parts[1:]:
        if _REGION_ALPHA.match(part):
            return _country(part.upper(), value)
        if _REGION_NUMERIC.match(part):
            return None  # a UN M.49 area such as 419 (Latin America): no single country
    return _language_country(parts[0].lower(), value)


def _resolve_single(code: str, original: str) -> str | None:
    if len(code) != 2 or not code.isalpha():
        raise _invalid(original)
    if code.isupper():
        return _country(code, original)
    lower = code.lower()
    if lower in LANGUAGE_COUNTRY or lower in LANGUAGE_CODES:
        return _language_country(lower, original)
    return _country(code.upper(), original)


def _country(code: str, original: str) -> str:
    code = ALIASES.get(code, code)
    if code not in COUNTRY_CODES:
        raise _invalid(original)
    return code


def _language_country(language: str, original: str) -> str | None:
    if language in LANGUAGE_COUNTRY:
        return LANGUAGE_COUNTRY[language]
    if language in LANGUAGE_CODES or len(language) == 3:
        return None  # a language alone, spoken in several countries or not mapped
    raise _invalid(original)


def _invalid(value: str) -> InvalidCountryError:
    return InvalidCountryError(
        f"{value!r} is not a country or locale: use an ISO 3166-1 alpha-2 code such as 'GB' or 'DE', "
        "or a locale such as 'en-GB' or 'de_DE.UTF-8'"
    )
