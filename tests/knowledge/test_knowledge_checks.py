"""check_knowledge: each kind of cross-file problem is found in a deliberately broken copy.

Every breakage below touches a different part of the files and causes a problem no other breakage causes, so one
broken copy carries all of them and is checked once; each parametrized case asserts its own problem is reported.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from psychosafe.knowledge import KNOWLEDGE_DIR, check_knowledge, load_knowledge
from psychosafe.knowledge.checks import fill, opening

Change = Callable[[Any], object]


def _strategy(data: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return next(s for s in data if s["id"] == sid)


def _find_route(data: list[dict[str, Any]], domain: str, role: str) -> dict[str, Any]:
    return next(r for r in data if r["domain"] == domain and r["role"] == role and r["intent"] == "*")


def _drop_default_routes(data: list[dict[str, Any]]) -> None:
    data[:] = [r for r in data if not (r["domain"] in ("*", None) and r["role"] == "*")]


def _add_route(domain: str, role: str, sid: str) -> Change:
    return lambda data: data.append(
        {"domain": domain, "intent": "harm_seeking", "role": role, "strategies": [sid]}
    )


def _shrink_grounding(data: list[dict[str, Any]]) -> None:
    _strategy(data, "grounding")["self_help"]["any"] = _strategy(data, "grounding")["self_help"]["any"][:3]


# (file, change, fragments of the problem it must cause)
BREAKAGES: list[tuple[str, Change, tuple[str, ...]]] = [
    (
        "routes.yaml",
        lambda d: _find_route(d, "violence", "victim")["strategies"].append("hugging_it_out"),
        ("(domain=violence, intent=*, role=victim) names unknown strategy 'hugging_it_out'",),
    ),
    (
        "routes.yaml",
        _drop_default_routes,
        ("routes.yaml: no rule for domain=None, intent=harm_seeking, role=None",),
    ),
    (
        "routes.yaml",
        _add_route("weapons", "third_party", "qpr"),
        ("uses 'qpr' for domain weapons, which the strategy does not list",),
    ),
    (
        "routes.yaml",
        _add_route("suicide_self_harm", "victim", "safety_planning"),
        ("uses 'safety_planning' for role victim", "no self-help for that role"),
    ),
    (
        "strategies.yaml",
        _shrink_grounding,
        ("strategies.yaml: grounding.self_help.any: 3 steps, needs at least 6",),
    ),
    (
        "strategies.yaml",
        lambda d: _strategy(d, "qpr")["self_help"]["third_party"].append("Give {person} 5 minutes."),
        ("strategies.yaml: qpr.self_help.third_party[6]", "contains a digit"),
    ),
    (
        "strategies.yaml",
        lambda d: _strategy(d, "qpr").update(instruction="Ask directly."),
        ("strategies.yaml: qpr.instruction: 1 sentences, needs 2-4",),
    ),
    (
        "language.yaml",
        lambda d: d["abrupt"].append({"pattern": "(sorry)?", "note": "x"}),
        ("language.yaml: abrupt[", "pattern matches empty text"),
    ),
    ("phrases.yaml", lambda d: d["self_help_lead"].append("Ask {name} for help:"), ("unknown slot(s) name",)),
    ("phrases.yaml", lambda d: d["self_help_lead"].append("Try this {person:"), ("unbalanced braces",)),
    (
        "phrases.yaml",
        lambda d: d["crisis"]["stay"].append("I'll be here for the next 10 minutes."),
        ("phrases.yaml: crisis.stay", "contains a digit"),
    ),
    (
        "phrases.yaml",
        lambda d: d["after_refusal"].append("Being an addict doesn't define you."),
        ("label word 'addict'",),
    ),
    (
        "phrases.yaml",
        lambda d: d["check_in"].append("You're such a psycho sometimes, how are you?"),
        ("language.yaml labels",),
    ),
    (
        "phrases.yaml",
        lambda d: d["check_in"].append("Your friend who committed suicide mattered."),
        ("unsafe_messaging",),
    ),
    (
        "phrases.yaml",
        lambda d: d["check_in"].append("This conversation is completely confidential."),
        ("overpromise",),
    ),
    (
        "phrases.yaml",
        lambda d: d["check_in"].append("Taking twenty pills won't solve it."),
        ("domains.yaml suicide_self_harm.specifics", "twenty pills"),
    ),
    (
        "phrases.yaml",
        lambda d: d["check_in"].append("Never buy it on the dark web."),
        ("domains.yaml substance_use.specifics", "dark web"),
    ),
    (
        "phrases.yaml",
        lambda d: d["victim_safety"].__delitem__(slice(2, None)),
        ("victim_safety: 2 templates, needs at least 6",),
    ),
    (
        "phrases.yaml",
        lambda d: d["boundary"]["violence"]["any"].__delitem__(slice(2, None)),
        ("boundary.violence:", "needs at least 8"),
    ),
    (
        "phrases.yaml",
        lambda d: d["close"]["weapons"]["informational"].append("I hope that helps. Take care."),
        ("close.weapons.informational", "invitation_markers"),
    ),
    (
        "phrases.yaml",
        lambda d: d["boundary"]["weapons"]["any"].append("Weapons are a serious matter."),
        ("refusal_markers",),
    ),
    (
        "phrases.yaml",
        lambda d: d["acknowledge"]["general"]["informational"]["any"].append("Here is the answer."),
        ("acknowledgement_markers",),
    ),
    (
        "phrases.yaml",
        lambda d: d["crisis"]["question"]["violence"]["any"].append("Are you safe? Is anyone with you?"),
        ("exactly one question",),
    ),
    (
        "phrases.yaml",
        lambda d: d["crisis"]["stay"].append("I'm here, and I'm not going to leave."),
        ("open with 'im here and im'",),
    ),
    (
        "phrases.yaml",
        lambda d: d["resource_brief"].update(any=["{person} can reach them too."] * 6),
        ("lookup resource_brief", "slot-free templates"),
    ),
]


@pytest.fixture(scope="module")
def problems(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("kb")
    for file in KNOWLEDGE_DIR.glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    for name in {name for name, _, _ in BREAKAGES}:
        data = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        for _, change, _ in (b for b in BREAKAGES if b[0] == name):
            change(data)
        (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return check_knowledge(load_knowledge(folder))


@pytest.mark.parametrize("fragments", [b[2] for b in BREAKAGES], ids=lambda fragments: fragments[-1][:40])
def test_problem_is_found(problems: list[str], fragments: tuple[str, ...]) -> None:
    assert any(all(f in p for f in fragments) for p in problems), "\n".join(problems[:30])


def test_only_the_broken_parts_are_reported(problems: list[str]) -> None:
    assert not any(
        "no rule for domain=violence" in p for p in problems
    )  # domains with their own rules resolve
    assert not any("acknowledge.suicide_self_harm" in p for p in problems)  # untouched pools stay clean


def test_opening_ignores_case_punctuation_and_apostrophes() -> None:
    assert opening("It's okay, really - I'm here.") == ("its", "okay", "really", "im")
    assert opening("Its OKAY really: im fine") == ("its", "okay", "really", "im")


def test_fill_uses_sample_values_and_survives_unknown_slots() -> None:
    assert fill("Is {person} safe?") == "Is your partner safe?"
    assert fill("Ask {name} for help") == "Ask something for help"
