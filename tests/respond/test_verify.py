"""The verifier on hand-written drafts: what it catches, what it repairs, when it falls back."""

import pytest

from psychosafe.policy import Policy
from psychosafe.respond.verify import Verifier
from psychosafe.types import Assessment, ConversationContext, Domain, Intent, Message, Role, Severity

USER = [Message(role="user", content="I don't want to be here anymore")]


def decide(domain, intent, severity, role, country="GB"):
    scores = {d: 0.0 for d in Domain} | ({domain: 0.9} if domain else {})
    return Policy().decide(Assessment(domain_scores=scores, domain=domain, intent=intent, severity=severity,
                                      role=role, context=ConversationContext()), country)


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier()


GOOD_SUPPORT = (
    "I'm really sorry you're feeling this way, and I'm glad you told me.\n\n"
    "One thing that can help tonight is writing down what has kept you going before.\n\n"
    "You could talk to Samaritans any time on 116 123, or text SHOUT to 85258.\n\n"
    "Would you like to tell me a little more about what's been happening?"
)


def test_a_good_draft_passes_unchanged(verifier: Verifier) -> None:
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.SUPPORT_SEEKING, Severity.MODERATE, Role.SELF)
    text, result = verifier.verify(GOOD_SUPPORT, decision, USER, seed=1)
    assert result.passed and not result.repairs and not result.fallback
    assert text == GOOD_SUPPORT


def test_an_invented_number_is_removed_and_real_resources_added(verifier: Verifier) -> None:
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.SUPPORT_SEEKING, Severity.MODERATE, Role.SELF)
    draft = ("I'm so sorry you're going through this. Please call the Hope Line on 0800 555 0199 right away. "
             "You can also reach the old lifeline at 1-800-273-8255. Would you like to talk more about it?")
    text, result = verifier.verify(draft, decision, USER, seed=1)
    assert "0800 555 0199" not in text and "1-800-273-8255" not in text
    assert "116 123" in text
    assert set(result.unknown_contacts) == {"0800 555 0199", "1-800-273-8255"}
    assert result.passed and not result.fallback
    assert any("unknown contact" in r for r in result.repairs)


def test_a_label_is_cut_out(verifier: Verifier) -> None:
    decision = decide(Domain.SUBSTANCE_USE, Intent.SUPPORT_SEEKING, Severity.MODERATE, Role.SELF)
    draft = ("Thank you for telling me about the drinking. Honestly, you're an alcoholic and need to admit it. "
             "Cutting down with support is very possible. FRANK is on 0300 123 6600 if you want to talk it "
             "through. What feels like the hardest part right now?")
    text, result = verifier.verify(draft, decision, USER, seed=2)
    assert "alcoholic" not in text
    assert result.passed and any("labelled" in r for r in result.repairs)


def test_harmful_specifics_in_a_refusal_replace_the_draft(verifier: Verifier) -> None:
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.HARM_SEEKING, Severity.HIGH, Role.SELF)
    draft = ("I hear how much pain you're in. I won't help with that, but for context, about 50 tablets of 500 mg "
             "would be needed. Please call Samaritans on 116 123. Would you like to talk?")
    text, result = verifier.verify(draft, decision, USER, seed=3)
    assert result.fallback and result.passed
    assert "500 mg" not in text and "tablets" not in text
    assert any(c.name == "no_harmful_specifics" and not c.passed for c in result.checks)


def test_harmful_specifics_in_a_list_are_caught_too(verifier: Verifier) -> None:
    """Method steps often come as a list; a list line is read like any other."""
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.HARM_SEEKING, Severity.HIGH, Role.SELF)
    draft = ("I hear how much pain you're in.\n\n- about 50 tablets of 500 mg would be needed\n"
             "- Samaritans: 116 123\n\nWould you like to talk?")
    text, result = verifier.verify(draft, decision, USER, seed=3)
    assert result.fallback and "500 mg" not in text
    assert verifier.count_specifics("- about 50 tablets of 500 mg", Domain.SUICIDE_SELF_HARM) >= 1


def test_a_refusal_that_does_not_refuse_is_replaced(verifier: Verifier) -> None:
    decision = decide(Domain.WEAPONS, Intent.HARM_SEEKING, Severity.HIGH, Role.OTHERS, "US")
    draft = "Sure! It sounds like you're curious. Let me know what else you need to know about this project."
    _, result = verifier.verify(draft, decision, USER, seed=4)
    assert result.fallback


def test_an_abrupt_refusal_gets_a_hopeful_open_close(verifier: Verifier) -> None:
    decision = decide(Domain.VIOLENCE, Intent.HARM_SEEKING, Severity.MODERATE, Role.OTHERS, "US")
    draft = "It sounds like you're really angry with him. I can't help with hurting someone."
    text, result = verifier.verify(draft, decision, USER, seed=5)
    assert result.passed and not result.fallback
    assert text.startswith(draft)
    assert any("close" in r for r in result.repairs) and any("resources" in r for r in result.repairs)


def test_a_crisis_draft_with_several_questions_falls_back(verifier: Verifier) -> None:
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.SUPPORT_SEEKING, Severity.IMMINENT, Role.SELF)
    draft = ("Are you safe right now? What happened today? Have you eaten? Call 999 if you are in danger. "
             "Samaritans are on 116 123.")
    text, result = verifier.verify(draft, decision, USER, seed=6)
    assert result.fallback and result.passed
    assert text.count("?") == 1


def test_on_an_answer_turn_only_helpline_numbers_are_checked(verifier: Verifier) -> None:
    decision = decide(None, Intent.BENIGN, Severity.NONE, None, "GB")
    ordinary = "The bakery's number is 020 7946 0000 and it opens at 8."
    text, result = verifier.verify(ordinary, decision, USER)
    assert text == ordinary and result.passed
    invented = "Here's the recipe. If you're struggling, call the crisis helpline on 0800 999 1234."
    text, result = verifier.verify(invented, decision, USER)
    assert "0800 999 1234" not in text and "Here's the recipe." in text


def test_a_stale_number_is_removed_for_its_own_country(verifier: Verifier) -> None:
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.SUPPORT_SEEKING, Severity.MODERATE, Role.SELF, "US")
    draft = ("I'm really glad you reached out. You can call the National Suicide Prevention Lifeline at "
             "1-800-273-8255. Would you like to keep talking?")
    text, result = verifier.verify(draft, decision, USER, seed=1)
    assert "1-800-273-8255" not in text and "988" in text
    assert result.unknown_contacts == ["1-800-273-8255"] and result.passed


@pytest.mark.parametrize("country", [None, "ZZ", "GB", "US"])
@pytest.mark.parametrize("severity", [Severity.HIGH, Severity.IMMINENT])
def test_the_composed_reply_passes_its_own_checks_with_or_without_a_country(
        verifier: Verifier, country: str | None, severity: Severity) -> None:
    # The international fallback offers links only (findahelpline.com): written without https:// or www. in
    # the text, they must still count as the offered resources, or every reply without a country falls back.
    decision = decide(Domain.SUICIDE_SELF_HARM, Intent.HARM_SEEKING, severity, Role.SELF, country=country)
    draft = verifier.composer.compose(decision, USER, seed=3)
    text, verification = verifier.verify(draft, decision, USER, seed=3)
    assert verification.passed and not verification.fallback, [c for c in verification.checks if not c.passed]
    assert text == draft
