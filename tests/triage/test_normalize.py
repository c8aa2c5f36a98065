import pytest

from psychosafe.triage.normalize import MAX_SCORED_CHARS, bounded, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k1ll mys3lf", "kill myself"),
        ("$uicide", "suicide"),
        ("p!lls", "pills"),
        ("s u i c i d e", "suicide"),
        ("k-i-l-l", "kill"),
        ("su\u200bic\u200dide", "suicide"),  # zero-width characters
        ("k\u0456ll", "kill"),  # Cyrillic i inside a Latin word
        ("soooooo tired", "soo tired"),
        ("ＫＩＬＬ", "kill"),  # full-width letters
        ("💊💊💊 tonight", "pill pill pill tonight"),  # risk emoji read as their word
        ("😭😭🔪", "crying crying knife"),
        ("☠️ lol", "skull lol"),  # the emoji variation selector is dropped
    ],
)
def test_tricks_map_to_the_plain_word(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("text", ["I took 5 pills in 2024", "covid-19 cases", "the 1st of May", "Привет мир",
                                  "passed my test 🎉"])
def test_ordinary_numbers_and_other_scripts_are_left_alone(text: str) -> None:
    assert normalize(text) == text.lower()


def test_a_huge_message_is_bounded_keeping_head_and_tail() -> None:
    text = "start " + "x" * 1_000_000 + " end"
    kept = bounded(text)
    assert len(kept) <= MAX_SCORED_CHARS + 10
    assert kept.startswith("start") and kept.endswith("end")
    assert len(normalize(text)) <= MAX_SCORED_CHARS + 10
