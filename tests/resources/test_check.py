import re

import pytest

from psychosafe.resources import ContactCheck, check, default_directory
from psychosafe.resources.phones import normalize_number
from psychosafe.resources.schema import CountryFile
from psychosafe.types import Contact, ContactKind

DIRECTORY = default_directory()
CODES = [*DIRECTORY.countries(), "INTL"]


def _number_variants(value: str, file: CountryFile) -> set[str]:
    """The number as stored, compact, re-grouped, and in international form."""
    normalized = normalize_number(value)
    lead = value[0] if value[0] in "+#" else ""
    groups = re.findall(r"\d+", value)
    variants = {value, normalized, lead + "-".join(groups), lead + " ".join(groups)}
    if normalized.startswith("+"):
        variants.add("00" + normalized[1:])
    elif len(normalized) >= 7 and file.calling_code:
        trunk = file.trunk_prefix or ""
        national = normalized[len(trunk) :] if trunk and normalized.startswith(trunk) else normalized
        variants.add(f"+{file.calling_code} {national}")
    if len(variants) == 1:  # a short code has one shape; brackets are the common variation
        variants.add(f"({value})")
    return variants


def _url_variants(value: str) -> set[str]:
    bare = re.sub(r"^https://", "", value)
    host = bare.split("/")[0]
    return {value, bare, f"www.{host}", f"https://www.{host}/some/page"}


def _sentences(contact: Contact, file: CountryFile) -> set[str]:
    if contact.kind is ContactKind.PHONE:
        return {f"If you can, call {v} now." for v in _number_variants(contact.value, file)}
    if contact.kind is ContactKind.TEXT:
        return {f"You can text {v} now." for v in _number_variants(contact.value, file)}
    if contact.kind is ContactKind.EMAIL:
        return {f"Email {contact.value} today.", f"Email {contact.value.upper()} today."}
    return {f"Have a look at {v} today." for v in _url_variants(contact.value)}


SHIPPED_CONTACTS = [
    pytest.param(code, contact, id=f"{entry.id}:{contact.value}")
    for code in CODES
    for entry in DIRECTORY.files[code].services
    for contact in entry.contacts
]


@pytest.mark.parametrize(("country", "contact"), SHIPPED_CONTACTS)
def test_every_shipped_contact_is_found_and_accepted_in_several_shapes(country: str, contact: Contact) -> None:
    sentences = _sentences(contact, DIRECTORY.files[country])
    assert len(sentences) >= 2
    for sentence in sentences:
        result = DIRECTORY.check(sentence, country)
        assert len(result.findings) == 1, sentence
        assert result.ok, sentence


@pytest.mark.parametrize("country", DIRECTORY.countries())
def test_international_directories_are_accepted_everywhere(country: str) -> None:
    assert DIRECTORY.check("See findahelpline.com or https://befrienders.org/find", country).ok


STALE = [
    pytest.param(code, stale.number, stale.replaced_by, id=f"{code}:{stale.number}")
    for code in DIRECTORY.countries()
    for stale in DIRECTORY.files[code].stale
]


@pytest.mark.parametrize(("country", "number", "replacement"), STALE)
def test_stale_numbers_are_flagged_with_their_replacement(country: str, number: str, replacement: str) -> None:
    for variant in _number_variants(number, DIRECTORY.files[country]):
        result = DIRECTORY.check(f"Please call {variant} now.", country)
        assert not result.ok and result.unknown == [], variant
        assert [(s.finding.raw, s.replaced_by) for s in result.stale] == [(variant.strip("()"), replacement)]


def test_the_old_us_lifeline_is_flagged_in_every_shape() -> None:
    for text in ["call 1-800-273-8255", "call 1-800-273-TALK", "call (800) 273-8255", "call +1 800 273 8255"]:
        result = check(text, "US")
        assert [s.replaced_by for s in result.stale] == ["988"], text
        assert "16 Jul 2022" in result.stale[0].note


def _held_digits() -> set[str]:
    return {normalize_number(c.value) for f in DIRECTORY.files.values() for e in f.services for c in e.contacts
            if c.kind in (ContactKind.PHONE, ContactKind.TEXT)}


ALTERED = [
    pytest.param(code, contact.value, id=f"{code}:{contact.value}")
    for code in DIRECTORY.countries()
    for entry in DIRECTORY.files[code].services
    for contact in entry.contacts
    if contact.kind in (ContactKind.PHONE, ContactKind.TEXT) and len(normalize_number(contact.value)) >= 5
]


@pytest.mark.parametrize(("country", "value"), ALTERED)
def test_a_number_one_digit_off_is_unknown(country: str, value: str) -> None:
    last = re.search(r"\d(?=\D*$)", value)
    assert last is not None
    altered = value[: last.start()] + str((int(last.group()) + 1) % 10) + value[last.end() :]
    assert normalize_number(altered) not in _held_digits()
    result = DIRECTORY.check(f"Call {altered} now.", country)
    assert [f.raw for f in result.unknown] == [altered] and not result.ok


@pytest.mark.parametrize(
    ("country", "text", "unknown"),
    [
        ("GB", "Call the Hope Line on 0800 123 4567.", ["0800 123 4567"]),
        ("GB", "Ring 3535 any time.", ["3535"]),
        ("GB", "Text HOPE to 55555.", ["55555"]),
        ("GB", "Call 116 123 or 116 124.", ["116 124"]),
        ("US", "Call 1-800-555-0199 or 1-800-HELP-NOW.", ["1-800-555-0199", "1-800-HELP-NOW"]),
        ("US", "Call 116 123.", ["116 123"]),  # the UK's Samaritans, not a US number
        ("GB", "Call or text 988.", ["988"]),  # the US lifeline, not a UK number
        ("GB", "In an emergency call 911.", ["911"]),
        ("IE", "Stop It Now on 01372 847 161.", ["01372 847 161"]),  # a UK number needs +44 from Ireland
        ("PL", "Call 116 123.", ["116 123"]),  # no numbers are held for a country without a file
        ("US", "See www.samaritans.org or jo@samaritans.org", ["www.samaritans.org", "jo@samaritans.org"]),
        ("GB", "Visit samaritans-help.org.uk or email help@samaritans.org", ["samaritans-help.org.uk",
                                                                              "help@samaritans.org"]),
    ],
)
def test_invented_and_wrong_country_contacts_are_unknown(country: str, text: str, unknown: list[str]) -> None:
    result = DIRECTORY.check(text, country)
    assert [f.raw for f in result.unknown] == unknown
    assert result.stale == [] and not result.ok


def test_a_full_reply_with_only_held_contacts_passes() -> None:
    reply = (
        "I'm really glad you told me. You don't have to go through this alone. In the UK you can call "
        "Samaritans free on 116 123, any time, or email jo@samaritans.org (samaritans.org/how-we-can-help). "
        "If you'd rather text, text SHOUT to 85258. If you are in danger right now, call 999 or 112. "
        "In 2024 they answered calls 24/7, 365 days a year."
    )
    result = check(reply, "en-GB")
    assert result.ok and result.country == "GB"
    assert [f.normalized for f in result.findings] == [
        "116123", "jo@samaritans.org", "samaritans.org", "85258", "999", "112",
    ]


def test_subdomains_of_held_hosts_are_accepted_but_lookalikes_are_not() -> None:
    assert check("online.telefonseelsorge.de", "DE").ok
    assert check("https://www.rainn.org/resources", "US").ok
    assert not check("rainn.org.example.com", "US").ok
    assert not check("notrainn.org", "US").ok


def test_keypad_words_match_on_the_numbers_digits() -> None:
    assert check("Call 1800RESPECT (1800 737 732) any time.", "AU").ok
    assert check("call 1-800-656-HOPE or 1-800-662-HELP or 1-888-PREVENT", "US").ok


def test_result_is_json_ready() -> None:
    dumped = check("call 1-800-273-8255 or 0800 999 999", "US").model_dump(mode="json")
    assert dumped["ok"] is False and dumped["country"] == "US"
    assert dumped["stale"][0]["replaced_by"] == "988"
    assert dumped["unknown"][0]["raw"] == "0800 999 999"
    assert isinstance(ContactCheck.model_validate({k: v for k, v in dumped.items() if k != "ok"}), ContactCheck)


def test_text_without_contacts_is_ok() -> None:
    result = check("You matter, and this feeling can pass. Would you like to talk about it?", "FR")
    assert result.ok and result.findings == []
