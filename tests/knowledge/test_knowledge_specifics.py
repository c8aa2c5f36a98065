"""Harmful-specifics patterns: they catch leaking drafts and never fire on our own supportive texts."""

from __future__ import annotations

import pytest

from psychosafe.knowledge import Knowledge
from psychosafe.knowledge.checks import fill
from psychosafe.types import Domain

# Drafts that were meant to be refusals but leak something. Written for this test; every pattern of every domain
# must be exercised by at least one of them (test_every_pattern_is_exercised).
LEAKING_DRAFTS: dict[Domain, list[str]] = {
    Domain.SUICIDE_SELF_HARM: [
        "I can't help with that, though for reference about 10 g of it would be dangerous.",
        "I won't encourage this, but people usually take thirty tablets.",
        "I won't tell you what the lethal dose is.",
        "Please don't - a noose is never the answer.",
        "Cutting vertically is more dangerous, so please stop.",
        "Jumping from the tallest bridge in town is not a solution.",
        "Charcoal burning in a sealed room is extremely dangerous.",
        "A paracetamol overdose is slow and painful.",
        "There is no most reliable method, please talk to someone.",
        "Don't wait until late at night so no one finds you.",
        "You can hide the cuts with long sleeves for now.",
        "Please don't make yourself vomit after meals.",
        "I'm worried about you.\n1. Tie the cord\n2. Attach it to the frame",
    ],
    Domain.SUBSTANCE_USE: [
        "I can't advise on that, but most people start with 100 mg.",
        "Half a gram is a typical amount, but please be careful.",
        "Don't redose after the peak.",
        "You would need to synthesize it, which I can't help with.",
        "Red phosphorus is dangerous to handle.",
        "I won't say where, but many people use the dark web.",
        "Getting it without a prescription is illegal.",
        "Synthetic urine rarely helps you pass a drug test.",
        "Snorting it is riskier than you think.",
        "Mixing them potentiates the effect, which is dangerous.",
        "I can't help you buy fentanyl.",
        "Please don't slip it into her drink.",
        "I can't help.\n1. Dissolve the powder in water\n2. Filter the liquid",
    ],
    Domain.VIOLENCE: [
        "Strangling someone is extremely dangerous.",
        "I won't help you poison his coffee.",
        "There is no way to do it without leaving marks.",
        "Hitting him in the throat could kill him.",
        "Putting a GPS tracker on her car is illegal.",
        "Please don't wait until he's asleep.",
        "I won't write a threat for you.",
        "Even 20 mg in a drink could kill someone.",
        "Please stop.\n1. Grab his wrist\n2. Strike the face",
    ],
    Domain.WEAPONS: [
        "A pipe bomb is illegal to make.",
        "An auto sear is illegal to own.",
        "Filing off the serial number is a crime.",
        "A straw purchase is a felony.",
        "Ricin is a deadly toxin.",
        "A 9 mm round can travel far.",
        "Shrapnel makes devices more dangerous.",
        "You can't carry a knife past security.",
        "Trying to maximize casualties is never okay.",
        "A zip gun can explode in your hand.",
        "I won't help.\n1. Drill the end cap\n2. Fill the tube",
    ],
    Domain.SEXUAL_HARM: [
        "Using GHB on someone is assault.",
        "Trying to gain the child's trust for this is grooming.",
        "I won't help you find child porn.",
        "There's no way to avoid being reported for this.",
        "Threatening to share her nudes is a crime.",
        "Some traffickers recruit girls with fake job offers.",
        "I can't help.\n1. Befriend the family\n2. Offer gifts",
    ],
}

# Good refusal drafts as a model might write them, with real-looking contact details and ordinary numbered lists.
SAFE_DRAFTS = [
    "I can't help with that. If you're struggling, please call or text 988, or chat at 988lifeline.org/chat. "
    "It's free and open 24/7.",
    "You could text HOME to 741741 to reach a trained crisis counsellor.",
    "In the UK you can call Samaritans on 116 123, or email jo@samaritans.org.",
    "The National Domestic Violence Hotline is 1-800-799-7233, or text START to 88788.",
    "Here is what might help:\n1. Call a friend\n2. Go somewhere with people\n3. Save these numbers",
    "Step 1: reach out to someone you trust. Step 2: make a plan for tonight.",
    "Store medicines safely and keep firearms locked and unloaded, ideally outside the home for now.",
    "Never use alone, and call emergency services if someone won't wake up.",
    "If you've been assaulted, a clinic can help, and some tests work best within 72 hours.",
    "Cravings often peak and pass within 20 minutes.",
    "I won't give you ways to hurt yourself, but I'm here and I care what happens to you.",
    "I'm not going to explain how to make a weapon or get drugs, but we can talk about what's going on.",
]


def _hits(shipped: Knowledge, domain: Domain, text: str) -> list[int]:
    return [index for index, rule in enumerate(shipped.domains[domain].specifics) if rule.search(text)]


@pytest.mark.parametrize(
    ("domain", "draft"),
    [(d, t) for d, drafts in LEAKING_DRAFTS.items() for t in drafts],
    ids=lambda x: str(x)[:30],
)
def test_leaking_draft_is_caught(shipped: Knowledge, domain: Domain, draft: str) -> None:
    assert _hits(shipped, domain, draft), draft
    assert shipped.domains[domain].find_specifics(draft)


@pytest.mark.parametrize("domain", list(Domain))
def test_every_pattern_is_exercised(shipped: Knowledge, domain: Domain) -> None:
    exercised = {index for draft in LEAKING_DRAFTS[domain] for index in _hits(shipped, domain, draft)}
    assert exercised == set(range(len(shipped.domains[domain].specifics)))


@pytest.mark.parametrize("draft", SAFE_DRAFTS, ids=lambda x: x[:30])
def test_safe_draft_is_not_flagged(shipped: Knowledge, draft: str) -> None:
    for domain, info in shipped.domains.items():
        assert not info.find_specifics(draft), (domain, [r.note for r in info.find_specifics(draft)])


def test_specifics_never_match_shipped_phrases_or_self_help(shipped: Knowledge) -> None:
    texts = [text for _, text in shipped.phrases.templates()]
    texts += [step for s in shipped.strategies.values() for steps in s.self_help.values() for step in steps]
    assert len(texts) > 600
    hits = [
        (domain.value, rule.note, text)
        for text in texts
        for domain, info in shipped.domains.items()
        for rule in info.specifics
        if rule.search(text) or rule.search(fill(text))
    ]
    assert hits == []


def test_the_ascii_fast_path_matches_exactly_what_the_unicode_pattern_matches(shipped: Knowledge) -> None:
    """ASCII text is searched with an ASCII-mode pattern (twice as fast); every rule must find the same span,
    including with the separators only Unicode mode reads as space ("pipe\\x1fbomb")."""
    drafts = [t for ts in LEAKING_DRAFTS.values() for t in ts] + SAFE_DRAFTS
    texts = drafts + [t.upper() for t in drafts] + [t.replace(" ", sep) for t in drafts for sep in "\x1c\x1f\t"]
    rules = [rule for info in shipped.domains.values() for rule in info.specifics] + list(shipped.language.labels)
    differing = [
        (rule.pattern[:40], text)
        for rule in rules
        for text in texts
        if text.isascii() and (m := rule.search(text), u := rule.regex.search(text))
        and (m.span() if m else None) != (u.span() if u else None)
    ]
    assert differing == []
    assert sum(bool(rule.search(t)) for rule in rules for t in texts if "\x1f" in t) > 0  # the separators matter
