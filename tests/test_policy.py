"""The PsychoSafe rules, on assessments built by hand (no model involved)."""

import pytest

from psychosafe.policy import Policy
from psychosafe.types import (
    Action,
    Assessment,
    ConversationContext,
    Domain,
    Intent,
    ResourceMode,
    Role,
    Severity,
)


def assessment(scores: dict[Domain, float] | None = None, intent=Intent.BENIGN, severity=Severity.NONE, role=None,
               **context) -> Assessment:
    full = {d: 0.0 for d in Domain} | (scores or {})
    risky = [d for d, s in full.items() if s >= 0.5]
    return Assessment(domain_scores=full, domain=max(risky, key=full.get) if risky else None, intent=intent,
                      severity=severity, role=role, context=ConversationContext(**context))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


def test_no_risk_is_answered(policy: Policy) -> None:
    decision = policy.decide(assessment(), "US")
    assert decision.action is Action.ANSWER and decision.resources is None


def test_harm_seeking_is_refused_with_strategies_and_resources(policy: Policy) -> None:
    decision = policy.decide(assessment({Domain.VIOLENCE: 0.9}, Intent.HARM_SEEKING, Severity.HIGH, Role.OTHERS),
                             "GB")
    assert decision.action is Action.REFUSE and decision.domain is Domain.VIOLENCE
    assert decision.strategies and decision.resources and decision.resources.country == "GB"
    assert decision.resource_mode is ResourceMode.FULL


def test_several_domains_address_the_most_acute_and_suicide_first(policy: Policy) -> None:
    decision = policy.decide(assessment({Domain.SUBSTANCE_USE: 0.95, Domain.SUICIDE_SELF_HARM: 0.6},
                                        Intent.HARM_SEEKING, Severity.HIGH, Role.SELF), "US")
    assert decision.domain is Domain.SUICIDE_SELF_HARM
    assert decision.domains == [Domain.SUICIDE_SELF_HARM, Domain.SUBSTANCE_USE]
    assert any("first" in r for r in decision.reasons)


@pytest.mark.parametrize("severity", [Severity.LOW, Severity.MODERATE, Severity.HIGH])
def test_help_seekers_are_supported_never_refused(policy: Policy, severity: Severity) -> None:
    for domain in Domain:
        decision = policy.decide(assessment({domain: 0.9}, Intent.SUPPORT_SEEKING, severity, Role.SELF), "AU")
        assert decision.action is Action.SUPPORT


def test_imminent_danger_is_a_crisis_whatever_was_asked(policy: Policy) -> None:
    for intent in (Intent.SUPPORT_SEEKING, Intent.HARM_SEEKING):
        decision = policy.decide(assessment({Domain.SUICIDE_SELF_HARM: 0.99}, intent, Severity.IMMINENT,
                                            Role.SELF), "GB")
        assert decision.action is Action.CRISIS
        assert decision.resources and decision.resources.emergency is not None


def test_imminent_with_an_unclear_domain_uses_the_suicide_protocol(policy: Policy) -> None:
    decision = policy.decide(assessment({}, Intent.SUPPORT_SEEKING, Severity.IMMINENT), "US")
    assert decision.action is Action.CRISIS and decision.domain is Domain.SUICIDE_SELF_HARM


def test_informational_questions_are_answered_with_support_only_for_suicide(policy: Policy) -> None:
    about_violence = policy.decide(assessment({Domain.VIOLENCE: 0.8}, Intent.INFORMATIONAL), "US")
    about_suicide = policy.decide(assessment({Domain.SUICIDE_SELF_HARM: 0.8}, Intent.INFORMATIONAL), "US")
    assert about_violence.action is Action.ANSWER
    assert about_suicide.action is Action.SUPPORT


def test_resources_already_offered_are_referred_to_briefly(policy: Policy) -> None:
    first = policy.decide(assessment({Domain.SUICIDE_SELF_HARM: 0.9}, Intent.SUPPORT_SEEKING, Severity.MODERATE,
                                     Role.SELF), "GB")
    shown = ["".join(ch for ch in c.value if ch.isdigit()) for r in first.resources.services for c in r.contacts]
    again = policy.decide(assessment({Domain.SUICIDE_SELF_HARM: 0.9}, Intent.SUPPORT_SEEKING, Severity.MODERATE,
                                     Role.SELF, resources_shown=[s for s in shown if s]), "GB")
    assert first.resource_mode is ResourceMode.FULL
    assert again.resource_mode is ResourceMode.BRIEF


def test_after_a_refusal_a_safe_topic_is_answered(policy: Policy) -> None:
    decision = policy.decide(assessment({}, Intent.BENIGN, after_refusal=True), "US")
    assert decision.action is Action.ANSWER


def test_thresholds_are_configurable() -> None:
    from psychosafe.config import PolicyConfig

    strict = Policy(PolicyConfig(domain_threshold=0.95))
    decision = strict.decide(assessment({Domain.WEAPONS: 0.9}, Intent.HARM_SEEKING, Severity.HIGH), "US")
    assert decision.action is Action.ANSWER


def test_an_unknown_country_gets_the_international_fallback(policy: Policy) -> None:
    decision = policy.decide(assessment({Domain.SUICIDE_SELF_HARM: 0.9}, Intent.SUPPORT_SEEKING, Severity.HIGH),
                             "PL")
    assert decision.resources.fallback and decision.resources.country == "INTL"


def test_a_clearly_benign_mention_of_a_domain_is_answered_but_an_unsure_one_is_supported(policy: Policy) -> None:
    def decide(benign: float) -> Action:
        a = assessment({Domain.SUICIDE_SELF_HARM: 0.5}, Intent.BENIGN)
        a.intent_scores = {Intent.BENIGN: benign, Intent.HARM_SEEKING: 1 - benign}
        return policy.decide(a, "GB").action

    assert decide(0.95) is Action.ANSWER  # "tips for a long train journey?"
    assert decide(0.45) is Action.SUPPORT  # "a story that romanticises suicide": safe-messaging adds support


def test_support_wins_over_refusal_when_help_seeking_is_close(policy: Policy) -> None:
    def decide(harm: float, support: float) -> Action:
        a = assessment({Domain.SUBSTANCE_USE: 0.9}, Intent.HARM_SEEKING, Severity.MODERATE, Role.SELF)
        a.intent_scores = {Intent.HARM_SEEKING: harm, Intent.SUPPORT_SEEKING: support}
        return policy.decide(a, "US").action

    assert decide(0.9, 0.05) is Action.REFUSE
    assert decide(0.55, 0.4) is Action.SUPPORT
