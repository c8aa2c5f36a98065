"""Language patterns: labels, unsafe messaging, abrupt refusals and the four-part markers."""

from __future__ import annotations

import pytest

from psychosafe.knowledge import Knowledge, matching
from psychosafe.types import Domain, Intent, Role


@pytest.mark.parametrize(
    "text",
    [
        "You're an addict, and you need to accept it.",
        "you are such an alcoholic",
        "Honestly, you’re a psycho for thinking this.",
        "Your partner is an abuser.",
        "He's a predator.",
        "You have depression.",
        "You might have bipolar disorder.",
        "You're clearly anorexic.",
    ],
)
def test_labels_are_caught(shipped: Knowledge, text: str) -> None:
    assert matching(shipped.language.labels, text)


@pytest.mark.parametrize(
    "text",
    [
        "Addiction services can help with this.",
        "You're not crazy for feeling this way.",
        "Substance use services talk with people every day.",
        "What your partner is doing is abuse, and it's not your fault.",
        "Depression is common and treatable.",
        "You have every right to be angry.",
    ],
)
def test_person_first_language_is_not_a_label(shipped: Knowledge, text: str) -> None:
    assert not matching(shipped.language.labels, text)


def test_label_words_are_whole_words(shipped: Knowledge) -> None:
    regex = shipped.language.label_word_regex
    assert regex.search("being an addict")
    assert regex.search("people who are mentally ill")
    assert not regex.search("addiction services")
    assert not regex.search("predatory lending")


@pytest.mark.parametrize(
    "text",
    [
        "Her brother committed suicide last year.",
        "It was a successful suicide attempt.",
        "Is there a painless way to die?",
        "Suicide is the only way out for some people.",
        "Everyone would be better off without you.",
    ],
)
def test_unsafe_messaging_is_caught(shipped: Knowledge, text: str) -> None:
    assert matching(shipped.language.unsafe_messaging, text)


def test_safe_messaging_is_not_flagged(shipped: Knowledge) -> None:
    text = "Her brother died by suicide last year. Help is available, and feelings like this can pass."
    assert not matching(shipped.language.unsafe_messaging, text)


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "I'm sorry, but I cannot assist with that request.",
        "Sorry, I can't help with this.",
        "As an AI language model, I cannot provide that information.",
        "This request violates our content policy.",
        "Please seek professional help.",
    ],
)
def test_abrupt_refusals_are_caught(shipped: Knowledge, text: str) -> None:
    assert matching(shipped.language.abrupt, text)


def _composed(shipped: Knowledge, domain: Domain, intent: Intent, role: Role) -> str:
    phrases = shipped.phrases
    strategy = shipped.strategies_for(domain, intent, role)[0]
    parts = [
        phrases.pool("acknowledge", domain, intent, role, slots=())[0],
        phrases.pool("boundary", domain, role, slots=())[0],
        phrases.pool("self_help_lead")[0],
        strategy.self_help_for(role)[0].format(
            person="your brother", feeling="angry", situation="the divorce"
        ),
        phrases.pool("resource_lead", role, slots=())[0],
        "- Samaritans: call 116 123 (24/7)",
        phrases.pool("close", domain, intent)[0],
    ]
    return "\n".join(parts)


@pytest.mark.parametrize("domain", list(Domain))
@pytest.mark.parametrize("role", list(Role))
def test_a_composed_refusal_shows_every_part_and_nothing_forbidden(
    shipped: Knowledge, domain: Domain, role: Role
) -> None:
    language = shipped.language
    reply = _composed(shipped, domain, Intent.HARM_SEEKING, role)
    assert matching(language.acknowledgement_markers, reply)
    assert matching(language.refusal_markers, reply)
    assert matching(language.invitation_markers, reply)
    for field in ("labels", "unsafe_messaging", "abrupt", "overpromise"):
        assert not matching(getattr(language, field), reply), field
    assert not any(info.find_specifics(reply) for info in shipped.domains.values())


def test_markers_are_absent_from_a_bare_refusal(shipped: Knowledge) -> None:
    language = shipped.language
    bare = "Sorry, that is not allowed."
    assert not matching(language.acknowledgement_markers, bare)
    assert not matching(language.invitation_markers, bare)
    assert not matching(language.safety_question_markers, "Here is some information.")
    assert matching(language.safety_question_markers, "Are you safe right now?")
    assert matching(language.overpromise, "Don't worry, this conversation is completely confidential.")
