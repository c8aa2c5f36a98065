import pytest

from psychosafe.resources import ContactFinding, find_contacts
from psychosafe.types import ContactKind


def _found(text: str) -> list[tuple[str, str, str]]:
    return [(f.kind.value, f.raw, f.normalized) for f in find_contacts(text)]


def test_findings_carry_kind_raw_normalized_and_span() -> None:
    text = "Please call 0808 2000 247 tonight."
    (finding,) = find_contacts(text)
    assert finding == ContactFinding(kind=ContactKind.PHONE, raw="0808 2000 247", normalized="08082000247",
                                     start=12, end=25)
    assert text[finding.start : finding.end] == finding.raw


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("call 0808 2000 247", "08082000247"),
        ("call 0808-2000-247", "08082000247"),
        ("call 0808.2000.247", "08082000247"),
        ("call 08082000247", "08082000247"),
        ("call +44 808 2000 247", "+448082000247"),
        ("call +44 (0)808 2000 247", "+448082000247"),
        ("call 0044 808 2000 247", "+448082000247"),
        ("call +1 (800) 799-7233", "+18007997233"),
        ("call (800) 799-7233", "8007997233"),
        ("call 1 800 799 7233", "18007997233"),
        ("call 1-800-799-SAFE", "18007997233"),
        ("call 1-800-273-TALK", "18002738255"),
        ("call 1800RESPECT", "18007377328"),
        ("Telefono Azzurro: 1.96.96", "19696"),
        ("DV Navi #8008", "#8008"),
    ],
)
def test_phone_shapes(text: str, normalized: str) -> None:
    assert [f.normalized for f in find_contacts(text)] == [normalized]


@pytest.mark.parametrize(
    "text",
    [
        "call 988",
        "Call 116 123",
        "Samaritans on 116 123",
        "Samaritans: 116 123",
        "Samaritans - 116 123",
        "Samaritans (116 123)",
        "Lifeline 13 11 14",
        "dial 000",
        "ring 111",
        "phone 999",
        "the 3114 line",
        "helpline 113",
        "appelez le 3114",
        "Ligue 180",
        "call 10111",
        "reach them at 1737",
        "call 2024",  # a year-like number offered as one to call is still a number
    ],
)
def test_short_codes_in_a_contact_context(text: str) -> None:
    assert len(find_contacts(text)) == 1


@pytest.mark.parametrize(("text", "digits"), [("call 15 now", "15"), ("appelez le 17", "17"), ("dial (15)", "15")])
def test_two_digit_numbers_only_right_after_a_call_verb(text: str, digits: str) -> None:
    assert [f.normalized for f in find_contacts(text)] == [digits]


def test_sms_forms_are_text_findings() -> None:
    assert _found("text HOME to 741741") == [("text", "741741", "741741")]
    assert _found("Text SHOUT to 85258 now") == [("text", "85258", "85258")]
    assert _found("SMS 0458 737 732") == [("text", "0458 737 732", "0458737732")]
    assert _found("WhatsApp 600 000 016") == [("text", "600 000 016", "600000016")]
    assert [f.kind.value for f in find_contacts("call or text 988")] == ["text"]
    assert [f.kind.value for f in find_contacts("text 4334 or call 0800 044 334")] == ["text", "phone"]


def test_several_numbers_in_one_sentence_stay_apart() -> None:
    text = "Call 999 or 112, TelefonSeelsorge 0800 111 0 111 · 0800 111 0 222 · 116 123, or 999 / 112."
    assert [f.normalized for f in find_contacts(text)] == [
        "999", "112", "08001110111", "08001110222", "116123", "999", "112",
    ]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("call 999/112", ["999", "112"]),
        ("Call 988 24/7", ["988"]),
        ("call 116 123 (free, 24/7)", ["116123"]),
        ("call 15 or 17", ["15", "17"]),
        ("Call 999, 300 people were there", ["999"]),
    ],
)
def test_numbers_next_to_slashes_lists_and_counts(text: str, numbers: list[str]) -> None:
    assert [f.normalized for f in find_contacts(text)] == numbers


def test_no_false_positives_in_everyday_numbers() -> None:
    text = (
        "In 2024, about 300 people in my town were 17 or younger. It cost £300, or $1,000, or 250 €. "
        "I take 200 mg twice a day, 3.5 mg at night and 1.5 tablets at 10:30 or 22.15. "
        "We met at 9am on 23/11/2026 (2026-11-23), between 2019-2021 and 1999–2005. Aged 16-25. "
        "5 years, 50% of 120 people, 100 % sure, 24/7, 365 days, 12 weeks, 40 hours, 3 pints, 2 units. "
        "The helpline took 5000 calls in 2023 and has 150 volunteers. Call me back in 2 hours. "
        "Version 3.14, chapter 12, room 101 in 1998, 1.000 Euro. At 2024 prices and on 300 mg."
    )
    assert find_contacts(text) == []


def test_urls_with_and_without_scheme() -> None:
    text = (
        "See https://www.samaritans.org/how-we-can-help, findahelpline.com, www.thehotline.org or "
        "988lifeline.org/chat (online.rainn.org)."
    )
    assert [(f.kind.value, f.normalized) for f in find_contacts(text)] == [
        ("url", "samaritans.org"),
        ("url", "findahelpline.com"),
        ("url", "thehotline.org"),
        ("url", "988lifeline.org"),
        ("url", "online.rainn.org"),
    ]
    assert find_contacts(text)[0].raw == "https://www.samaritans.org/how-we-can-help"


def test_abbreviations_are_not_urls() -> None:
    assert find_contacts("e.g. this, i.e. that, the U.S. and so on. The end.It was fine.") == []


def test_emails() -> None:
    (finding,) = find_contacts("Write to Jo@Samaritans.org, any time.")
    assert (finding.kind, finding.raw, finding.normalized) == (ContactKind.EMAIL, "Jo@Samaritans.org",
                                                              "jo@samaritans.org")


def test_numbers_inside_addresses_are_not_numbers() -> None:
    assert [f.kind.value for f in find_contacts("chat at 988lifeline.org or 113.nl")] == ["url", "url"]
