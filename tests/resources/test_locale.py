import pytest

from psychosafe.errors import InvalidCountryError
from psychosafe.resources import resolve_country


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GB", "GB"),
        ("gb", "GB"),
        ("UK", "GB"),
        (" GB ", "GB"),
        ("en-GB", "GB"),
        ("en_GB", "GB"),
        ("en_GB.UTF-8", "GB"),
        ("en-gb", "GB"),
        ("en-UK", "GB"),
        ("de-DE", "DE"),
        ("de_DE@euro", "DE"),
        ("de", "DE"),
        ("fr", "FR"),
        ("nl", "NL"),
        ("it", "IT"),
        ("es", "ES"),
        ("ja", "JP"),
        ("da", "DK"),
        ("sv", "SE"),
        ("pt-BR", "BR"),
        ("es-MX", "MX"),
        ("zh-Hans-CN", "CN"),
        ("PL", "PL"),  # a valid country without a directory file still resolves
        ("SV", "SV"),  # upper case is a country (El Salvador), lower case "sv" is Swedish
        ("CA", "CA"),
        ("en-CA", "CA"),
    ],
)
def test_resolves_codes_and_locales(value: str, expected: str) -> None:
    assert resolve_country(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "en",  # English: many countries
        "pt",  # Portuguese: Portugal, Brazil, ...
        "ca",  # Catalan, not Canada
        "uk",  # Ukrainian, not the United Kingdom
        "zh-Hans",  # a language and a script, no region
        "es-419",  # Latin America: no single country
        "C.UTF-8",  # a POSIX locale with no place
        "POSIX",
    ],
)
def test_no_single_country_gives_none(value: str | None) -> None:
    assert resolve_country(value) is None


@pytest.mark.parametrize("value", ["Narnia", "ZZ", "zz", "12", "GBR", "en-ZZ", "12-34", "INTL", "United Kingdom"])
def test_invalid_strings_raise_a_helpful_error(value: str) -> None:
    with pytest.raises(InvalidCountryError) as caught:
        resolve_country(value)
    message = str(caught.value)
    assert repr(value) in message
    assert "en-GB" in message and "ISO 3166-1" in message


def test_invalid_country_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        resolve_country("Narnia")
