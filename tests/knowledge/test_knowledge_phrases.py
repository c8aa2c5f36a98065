"""Phrase pools: every lookup finds slot-free text, falls back sensibly, and templates follow the house rules."""

from __future__ import annotations

import itertools

import pytest

from psychosafe.knowledge import SLOTS, Knowledge, template_slots
from psychosafe.types import Domain, Intent, Role

DOMAINS = [*Domain, None]
INTENTS = [Intent.HARM_SEEKING, Intent.SUPPORT_SEEKING, Intent.INFORMATIONAL]
ROLES = [*Role, None]

LOOKUPS = [
    *(("acknowledge", d, i, r) for d, i, r in itertools.product(DOMAINS, INTENTS, ROLES)),
    *(("boundary", d, r) for d, r in itertools.product(DOMAINS, ROLES)),
    *(("close", d, i) for d, i in itertools.product(DOMAINS, INTENTS)),
    *(("crisis", "safety_step", d, r) for d, r in itertools.product(DOMAINS, ROLES)),
    *(("crisis", "question", d, r) for d, r in itertools.product(DOMAINS, ROLES)),
    *(("resource_lead", r) for r in ROLES),
    *(("resource_brief", r) for r in ROLES),
    *(("support_intro", d) for d in DOMAINS),
    ("self_help_lead",),
    ("crisis", "open"),
    ("crisis", "stay"),
    ("victim_safety",),
    ("check_in",),
    ("after_refusal",),
]


@pytest.mark.parametrize("keys", LOOKUPS, ids=lambda keys: "/".join(str(k) for k in keys))
def test_every_lookup_has_slot_free_templates(shipped: Knowledge, keys: tuple[object, ...]) -> None:
    section, *rest = keys
    slot_free = shipped.phrases.pool(str(section), *rest, slots=())  # type: ignore[arg-type]
    assert len(slot_free) >= 3
    assert all(template_slots(t) == frozenset() for t in slot_free)


def test_role_lookup_adds_the_any_templates(shipped: Knowledge) -> None:
    pools = shipped.phrases.acknowledge["violence"]["harm_seeking"]
    victim = shipped.phrases.pool("acknowledge", Domain.VIOLENCE, Intent.HARM_SEEKING, Role.VICTIM)
    assert victim == pools["victim"] + pools["any"]
    assert shipped.phrases.pool("acknowledge", Domain.VIOLENCE, Intent.HARM_SEEKING, None) == pools["any"]


def test_missing_role_and_domain_fall_back(shipped: Knowledge) -> None:
    phrases = shipped.phrases
    # boundary.violence has no templates of its own for "self": the `any` ones stand in
    assert phrases.pool("boundary", Domain.VIOLENCE, Role.SELF) == phrases.boundary["violence"]["any"]
    assert phrases.pool("close", None, Intent.SUPPORT_SEEKING) == phrases.close["general"]["support_seeking"]
    assert phrases.pool("support_intro", None) == phrases.support_intro["general"]


def test_extra_keys_are_ignored_and_slots_filter(shipped: Knowledge) -> None:
    phrases = shipped.phrases
    assert (
        phrases.pool("close", "weapons", "informational", "victim")
        == phrases.close["weapons"]["informational"]
    )
    with_person = phrases.pool("resource_lead", Role.THIRD_PARTY, slots={"person"})
    without = phrases.pool("resource_lead", Role.THIRD_PARTY, slots=set())
    assert any("{person}" in t for t in with_person)
    assert not any("{" in t for t in without)
    assert set(without) < set(with_person)


def test_unresolvable_keys_raise_key_error(shipped: Knowledge) -> None:
    with pytest.raises(KeyError, match="benign"):
        shipped.phrases.pool("acknowledge", Domain.VIOLENCE, Intent.BENIGN, Role.SELF)
    with pytest.raises(KeyError, match="farewell"):
        shipped.phrases.pool("farewell")


def test_templates_use_only_known_slots_and_no_digits(shipped: Knowledge) -> None:
    templates = list(shipped.phrases.templates())
    assert len(templates) > 500
    for where, text in templates:
        assert template_slots(text) <= SLOTS, where
        assert not any(ch.isdigit() for ch in text), where
    assert sum(1 for _, text in templates if template_slots(text)) > 20  # personalisation is actually used


def test_crisis_questions_are_one_question_each(shipped: Knowledge) -> None:
    questions = [text for where, text in shipped.phrases.templates() if where.startswith("crisis.question")]
    assert len(questions) >= 6 * 6
    assert all(text.count("?") == 1 and text.endswith("?") for text in questions)


def test_template_slots() -> None:
    assert template_slots("Is {person} feeling {feeling}?") == {"person", "feeling"}
    assert template_slots("No slots here.") == frozenset()
    with pytest.raises(ValueError):
        template_slots("Broken {person")
