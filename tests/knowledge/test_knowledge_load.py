"""Loading: the shipped files are sound, cached, and broken copies fail with the file and field named."""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from psychosafe.errors import KnowledgeError
from psychosafe.knowledge import KNOWLEDGE_DIR, Knowledge, check_knowledge, load_knowledge
from psychosafe.knowledge import checks as checks_module
from psychosafe.knowledge.schema import DOMAIN_KEYS, INTENT_KEYS, ROLE_KEYS, DomainKey, IntentKey, RoleKey
from psychosafe.types import Domain, Intent, Role

Editor = Callable[[str, Callable[[Any], object]], Path]


def test_shipped_knowledge_loads_with_every_domain(shipped: Knowledge) -> None:
    assert set(shipped.domains) == set(Domain)
    assert shipped.path == KNOWLEDGE_DIR
    for info in shipped.domains.values():
        assert info.specifics and info.never_provide and info.safe_alternatives and info.cues


def test_shipped_knowledge_has_no_problems() -> None:
    assert check_knowledge() == []


def test_shipped_folder_is_cached_and_other_folders_are_not(kb_copy: Path) -> None:
    assert load_knowledge() is load_knowledge()
    assert load_knowledge(KNOWLEDGE_DIR) is load_knowledge()
    first = load_knowledge(kb_copy)
    assert first is not load_knowledge(kb_copy)
    assert first.path == kb_copy


def test_literal_keys_match_the_shared_enums() -> None:
    assert set(typing.get_args(DomainKey)) == {d.value for d in Domain} | {"general"} == set(DOMAIN_KEYS)
    assert set(typing.get_args(RoleKey)) == {r.value for r in Role} | {"any"} == set(ROLE_KEYS)
    assert set(typing.get_args(IntentKey)) == set(INTENT_KEYS) == {i.value for i in Intent} - {"benign"}


def test_required_strategies_are_present_with_their_parts(shipped: Knowledge) -> None:
    def steps(sid: str) -> list[str]:
        return [step.name for step in shipped.strategies[sid].steps]

    assert steps("psychological_first_aid") == ["Safety", "Calm", "Connectedness", "Self-efficacy", "Hope"]
    assert steps("green_dot") == ["Direct", "Distract", "Delegate"]
    assert steps("sober_breathing_space") == ["Stop", "Observe", "Breathe", "Expand", "Respond"]
    assert steps("motivational_interviewing") == [
        "Open questions",
        "Affirmations",
        "Reflections",
        "Summaries",
    ]
    assert steps("five_as") == ["Ask", "Advise", "Assess", "Assist", "Arrange"]
    assert steps("qpr") == ["Question", "Persuade", "Refer"]
    assert [name[0] for name in steps("mental_health_first_aid")] == list("ALGEE")
    assert len(steps("safety_planning")) == 6
    for sid in ("de_escalation", "lethal_means_counselling", "trauma_informed_care", "grounding"):
        assert sid in shipped.strategies
    for strategy in shipped.strategies.values():
        assert strategy.source.url.startswith("https://")
        assert all(len(steps) >= 6 for steps in strategy.self_help.values())


# --------------------------------------------------------------------------------------------------- schema errors


def _load_error(folder: Path) -> str:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(folder)
    return str(caught.value)


def test_unknown_domain_key_names_file_and_field(edit: Editor) -> None:
    def rename(data):
        data["acknowledge"]["violense"] = data["acknowledge"].pop("violence")

    message = _load_error(edit("phrases.yaml", rename))
    assert message.startswith("phrases.yaml: acknowledge.violense.[key]: Input should be")
    assert "'violence'" in message  # the allowed names are listed


def test_missing_any_pool_names_file_and_field(edit: Editor) -> None:
    message = _load_error(edit("phrases.yaml", lambda data: data["boundary"]["violence"].pop("any")))
    assert "phrases.yaml: boundary.violence: " in message and "missing key(s): any" in message


def test_invalid_regex_names_file_and_field(edit: Editor) -> None:
    def break_pattern(data):
        data["violence"]["specifics"][0]["pattern"] = "(unclosed"

    message = _load_error(edit("domains.yaml", break_pattern))
    assert "domains.yaml: violence.specifics.0.pattern" in message
    assert "invalid regular expression" in message


def test_bad_source_url_names_the_strategy(edit: Editor) -> None:
    def break_url(data):
        next(s for s in data if s["id"] == "qpr")["source"]["url"] = "qprinstitute.com"

    message = _load_error(edit("strategies.yaml", break_url))
    assert "strategies.yaml: qpr.source.url" in message


def test_missing_strategy_field_names_it(edit: Editor) -> None:
    message = _load_error(edit("strategies.yaml", lambda data: data[0].pop("instruction")))
    assert "strategies.yaml: psychological_first_aid.instruction: Field required" in message


def test_duplicate_strategy_id_is_rejected(edit: Editor) -> None:
    message = _load_error(edit("strategies.yaml", lambda data: data.append(dict(data[0]))))
    assert "strategies.yaml" in message and "appears twice" in message


def test_route_with_unknown_domain_names_the_entry(edit: Editor) -> None:
    def break_route(data):
        data[0]["domain"] = "gambling"

    message = _load_error(edit("routes.yaml", break_route))
    assert "routes.yaml: entry 1.domain" in message


def test_duplicate_route_is_rejected(edit: Editor) -> None:
    message = _load_error(edit("routes.yaml", lambda data: data.append(dict(data[0]))))
    assert "routes.yaml" in message and "two rules for domain=*, intent=*, role=*" in message


def test_route_without_domain_is_rejected(edit: Editor) -> None:
    message = _load_error(edit("routes.yaml", lambda data: data[0].pop("domain")))
    assert "routes.yaml: entry 1.domain: Field required" in message


def test_unknown_language_field_is_rejected(edit: Editor) -> None:
    message = _load_error(edit("language.yaml", lambda data: data.update(slurs=["x"])))
    assert "language.yaml: slurs: Extra inputs are not permitted" in message


def test_yaml_syntax_error_names_file_and_line(kb_copy: Path) -> None:
    (kb_copy / "routes.yaml").write_text("- {domain: *\n", encoding="utf-8")
    message = _load_error(kb_copy)
    assert message.startswith("routes.yaml: not valid YAML (line 1")


def test_missing_file_is_named(kb_copy: Path) -> None:
    (kb_copy / "language.yaml").unlink()
    assert _load_error(kb_copy) == f"language.yaml: file not found in {kb_copy}"


def test_check_reports_a_load_failure_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Knowledge:
        raise KnowledgeError("phrases.yaml: close: missing key(s): general")

    monkeypatch.setattr(checks_module, "load_knowledge", broken)
    assert check_knowledge() == ["phrases.yaml: close: missing key(s): general"]
