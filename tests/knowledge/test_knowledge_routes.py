"""Routing: every situation resolves to fitting strategies, and the most specific rule wins."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from psychosafe.errors import KnowledgeError
from psychosafe.knowledge import Knowledge, Route, load_knowledge
from psychosafe.knowledge.routes import resolve_route
from psychosafe.types import Domain, Intent, Role

Editor = Callable[[str, Callable[[Any], object]], Path]

SITUATIONS = list(
    itertools.product(
        [*Domain, None],
        [Intent.INFORMATIONAL, Intent.SUPPORT_SEEKING, Intent.HARM_SEEKING],
        [*Role, None],
    )
)


@pytest.mark.parametrize(("domain", "intent", "role"), SITUATIONS)
def test_every_situation_gets_fitting_strategies_with_self_help(
    shipped: Knowledge, domain: Domain | None, intent: Intent, role: Role | None
) -> None:
    strategies = shipped.strategies_for(domain, intent, role)
    assert strategies
    for strategy in strategies:
        assert strategy.fits(domain), strategy.id
        assert len(strategy.self_help_for(role)) >= 6, strategy.id


@pytest.mark.parametrize(
    ("domain", "intent", "role", "first"),
    [
        (Domain.SUICIDE_SELF_HARM, Intent.HARM_SEEKING, Role.SELF, "safety_planning"),
        (Domain.SUICIDE_SELF_HARM, Intent.SUPPORT_SEEKING, Role.THIRD_PARTY, "qpr"),
        (Domain.SUICIDE_SELF_HARM, Intent.INFORMATIONAL, Role.THIRD_PARTY, "mental_health_first_aid"),
        (Domain.SUBSTANCE_USE, Intent.HARM_SEEKING, Role.SELF, "sober_breathing_space"),
        (Domain.SUBSTANCE_USE, Intent.SUPPORT_SEEKING, Role.SELF, "motivational_interviewing"),
        (
            Domain.SUBSTANCE_USE,
            Intent.SUPPORT_SEEKING,
            Role.THIRD_PARTY,
            "community_reinforcement_family_training",
        ),
        (Domain.VIOLENCE, Intent.HARM_SEEKING, Role.OTHERS, "de_escalation"),
        (Domain.VIOLENCE, Intent.HARM_SEEKING, Role.VICTIM, "survivor_centred_support"),
        (Domain.VIOLENCE, Intent.SUPPORT_SEEKING, Role.THIRD_PARTY, "green_dot"),
        (Domain.WEAPONS, Intent.HARM_SEEKING, Role.OTHERS, "lethal_means_counselling"),
        (Domain.SEXUAL_HARM, Intent.HARM_SEEKING, Role.OTHERS, "prevention_help_seeking"),
        (Domain.SEXUAL_HARM, Intent.SUPPORT_SEEKING, Role.VICTIM, "survivor_centred_support"),
        (None, Intent.SUPPORT_SEEKING, None, "psychological_first_aid"),
        (None, Intent.INFORMATIONAL, Role.THIRD_PARTY, "mental_health_first_aid"),
    ],
)
def test_best_strategy_for_typical_situations(
    shipped: Knowledge, domain: Domain | None, intent: Intent, role: Role | None, first: str
) -> None:
    assert shipped.strategies_for(domain, intent, role)[0].id == first


def _route(domain: str | None, intent: str, role: str, sid: str) -> Route:
    return Route.model_validate({"domain": domain, "intent": intent, "role": role, "strategies": [sid]})


def test_named_domain_outweighs_named_role_which_outweighs_named_intent() -> None:
    routes = [
        _route("*", "*", "*", "fallback"),
        _route("*", "harm_seeking", "*", "by_intent"),
        _route("*", "*", "victim", "by_role"),
        _route("violence", "*", "*", "by_domain"),
    ]

    def best(domain: Domain | None, intent: Intent, role: Role | None) -> str:
        route = resolve_route(routes, domain, intent, role)
        assert route is not None
        return route.strategies[0]

    assert best(Domain.VIOLENCE, Intent.HARM_SEEKING, Role.VICTIM) == "by_domain"
    assert best(Domain.WEAPONS, Intent.HARM_SEEKING, Role.VICTIM) == "by_role"
    assert best(Domain.WEAPONS, Intent.HARM_SEEKING, Role.SELF) == "by_intent"
    assert best(Domain.WEAPONS, Intent.INFORMATIONAL, Role.SELF) == "fallback"


def test_null_domain_and_unknown_role_match_only_their_own_rules() -> None:
    routes = [_route(None, "*", "*", "no_domain"), _route("*", "*", "self", "self_anywhere")]

    def best(domain: Domain | None, role: Role | None) -> list[str] | None:
        route = resolve_route(routes, domain, Intent.SUPPORT_SEEKING, role)
        return route.strategies if route else None

    assert best(None, None) == ["no_domain"]
    assert best(None, Role.SELF) == ["no_domain"]  # a null domain is a named domain: it outweighs the role
    assert best(Domain.VIOLENCE, Role.SELF) == ["self_anywhere"]  # null does not match a real domain
    assert best(Domain.VIOLENCE, None) is None  # an unknown role does not match "self"


def test_strategies_for_raises_on_a_hole_or_an_unknown_id(edit: Editor) -> None:
    def break_routes(data: list[dict[str, object]]) -> None:
        data[:] = [
            {"domain": "violence", "intent": "*", "role": "*", "strategies": ["de_escalation", "nope"]}
        ]

    knowledge = load_knowledge(edit("routes.yaml", break_routes))
    with pytest.raises(KnowledgeError, match="no rule for domain=weapons"):
        knowledge.strategies_for(Domain.WEAPONS, Intent.HARM_SEEKING, Role.SELF)
    with pytest.raises(KnowledgeError, match="unknown strategies: nope"):
        knowledge.strategies_for(Domain.VIOLENCE, Intent.HARM_SEEKING, Role.SELF)


def test_unknown_role_gets_any_steps_or_else_the_persons_own(shipped: Knowledge) -> None:
    grounding = shipped.strategies["grounding"]
    assert grounding.self_help_for(None) == grounding.self_help["any"]
    planning = shipped.strategies["safety_planning"]
    assert "any" not in planning.self_help
    assert planning.self_help_for(None) == planning.self_help["self"]
    assert planning.self_help_for(Role.VICTIM) == []
    de_escalation = shipped.strategies["de_escalation"]
    helper_steps = de_escalation.self_help_for(Role.THIRD_PARTY)
    assert (
        helper_steps[: len(de_escalation.self_help["third_party"])] == de_escalation.self_help["third_party"]
    )
    assert helper_steps[-len(de_escalation.self_help["any"]) :] == de_escalation.self_help["any"]
