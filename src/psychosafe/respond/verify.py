"""Check a draft against its Decision, repair what can be repaired, otherwise fall back to the composer.

Checks (each reported, passed or not): no harmful specifics when refusing or supporting; every phone number,
text number, URL and email is one the directory holds for the person's country; no labels or diagnoses;
safe-messaging; the parts of the answer are present (acknowledgement, the boundary when refusing, resources,
an open ending); a crisis reply gives the emergency number and asks exactly one direct safety question.
Repairs cut sentences that carry unknown contacts, labels or unsafe wording, and add a missing part from the
composer. A draft with harmful specifics, a missing refusal, or checks still failing after repair is replaced
by the composed answer, which is verified in turn.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from psychosafe.knowledge import Knowledge, Rule, load_knowledge
from psychosafe.resources import Directory, default_directory
from psychosafe.respond.composer import Composer, conversation_seed
from psychosafe.types import Action, Check, ContactKind, Decision, Domain, Message, ResourceMode, Verification

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_HELPLINE_CONTEXT = re.compile(
    r"\b(?:hotline|helpline|crisis|lifeline|support line|samaritans|suicide|emergency|call|text|dial)\b", re.I
)


def _matches(rules: Sequence[Rule], text: str) -> list[str]:
    """The words each matching rule found (one per rule)."""
    return [m.group(0) for m in (rule.search(text) for rule in rules) if m]


def _units(text: str) -> list[str]:
    """Sentences, keeping list lines whole (a resource line is one unit)."""
    units: list[str] = []
    for line in text.split("\n"):
        if line.lstrip().startswith(("-", "*", "•")) or not line.strip():
            units.append(line)
        else:
            units.extend(_SENTENCE_END.split(line))
    return units


def _rejoin(units: list[str]) -> str:
    text = ""
    for unit in units:
        if not text:
            text = unit
        elif unit.lstrip().startswith(("-", "*", "•")) or not unit.strip() or text.endswith("\n"):
            text += "\n" + unit
        else:
            text += " " + unit
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class _Draft:
    text: str
    repairs: list[str]


class Verifier:
    def __init__(self, knowledge: Knowledge | None = None, directory: Directory | None = None,
                 composer: Composer | None = None):
        self.knowledge = knowledge or load_knowledge()
        self.directory = directory or default_directory()
        self.composer = composer or Composer(self.knowledge)

    # ------------------------------------------------------------------------------------------ public

    def verify(self, draft: str, decision: Decision, messages: Sequence[Message],
               seed: int | None = None) -> tuple[str, Verification]:
        """The text to show and what was checked and changed."""
        checks = self.run_checks(draft, decision)
        failed = {c.name for c in checks if not c.passed}
        unknown = self._unknown_contacts(draft, decision)
        if not failed:
            return draft, Verification(passed=True, checks=checks, unknown_contacts=unknown)
        if not failed & _UNREPAIRABLE[decision.action]:
            repaired = self._repair(draft, decision, failed, seed)
            if all(c.passed for c in self.run_checks(repaired.text, decision)):
                return repaired.text, Verification(passed=True, checks=checks, repairs=repaired.repairs,
                                                   unknown_contacts=unknown)
        composed = self.composer.compose(decision, messages, seed)
        final_checks = self.run_checks(composed, decision)
        return composed, Verification(
            passed=all(c.passed for c in final_checks), checks=checks, fallback=True, unknown_contacts=unknown,
            repairs=[f"replaced by the composed answer (failed: {', '.join(sorted(failed))})"],
        )

    def run_checks(self, text: str, decision: Decision) -> list[Check]:
        return [check(self, text, decision) for check in _CHECKS[decision.action]]

    # ------------------------------------------------------------------------------------------ checks

    def _country(self, decision: Decision) -> str:
        """Numbers are checked for the person's country, on answer turns (no resources chosen) too."""
        return decision.resources.country if decision.resources else decision.country or "INTL"

    def _unknown_contacts(self, text: str, decision: Decision) -> list[str]:
        result = self.directory.check(text, self._country(decision))
        bad = [f.raw for f in result.unknown] + [s.finding.raw for s in result.stale]
        if decision.action is Action.ANSWER:
            return [raw for raw in bad if _in_helpline_context(text, raw)]
        return bad

    def check_contacts(self, text: str, decision: Decision) -> Check:
        bad = self._unknown_contacts(text, decision)
        return Check(name="contacts_known", passed=not bad,
                     detail=("not in the directory for " + self._country(decision) + ": " + ", ".join(bad))
                     if bad else "every number and link is in the directory")

    def check_specifics(self, text: str, decision: Decision) -> Check:
        found: list[str] = []
        for domain in decision.domains or ([decision.domain] if decision.domain else []):
            found += _matches(self.knowledge.domains[domain].specifics, text)
        return Check(name="no_harmful_specifics", passed=not found,
                     detail=("harmful specifics: " + ", ".join(sorted(set(found))[:5])) if found else "none found")

    def count_specifics(self, text: str, domain: Domain) -> int:
        """How many of a domain's specifics patterns a text matches, list lines included (no helpline entry in the
        directory matches one, and a model's method steps often come as a list)."""
        return len(_matches(self.knowledge.domains[domain].specifics, text))

    def specifics_by_domain(self, text: str) -> dict[Domain, set[str]]:
        """Per domain, the specifics patterns a text matches: sets, so the parts of a growing text can be read one
        at a time and their findings joined."""
        return {domain: {rule.pattern for rule in self.knowledge.domains[domain].specifics if rule.search(text)}
                for domain in Domain}

    def check_labels(self, text: str, decision: Decision) -> Check:
        found = _matches(self.knowledge.language.labels, text)
        return Check(name="no_labels", passed=not found,
                     detail=("labels the person: " + ", ".join(found[:3])) if found else "no labels or diagnoses")

    def check_safe_messaging(self, text: str, decision: Decision) -> Check:
        found = _matches(self.knowledge.language.unsafe_messaging, text)
        return Check(name="safe_messaging", passed=not found,
                     detail=("unsafe wording: " + ", ".join(found[:3])) if found else "follows safe-messaging")

    def check_overpromise(self, text: str, decision: Decision) -> Check:
        found = _matches(self.knowledge.language.overpromise, text)
        return Check(name="no_overpromise", passed=not found,
                     detail=("promises what no one can guarantee: " + ", ".join(found[:3])) if found
                     else "no promises of secrecy or outcomes")

    def check_acknowledgement(self, text: str, decision: Decision) -> Check:
        head = " ".join(_units(text)[:3])
        ok = bool(_matches(self.knowledge.language.acknowledgement_markers, head))
        return Check(name="acknowledgement", passed=ok,
                     detail="opens by acknowledging the person" if ok else "no acknowledgement at the start")

    def check_refusal(self, text: str, decision: Decision) -> Check:
        ok = bool(_matches(self.knowledge.language.refusal_markers, text))
        return Check(name="boundary_stated", passed=ok,
                     detail="says what it will not help with" if ok else "does not state the boundary")

    def check_resources(self, text: str, decision: Decision) -> Check:
        if decision.resources is None or decision.resource_mode is ResourceMode.NONE:
            return Check(name="resources_present", passed=True, detail="no resources required")
        found = self.directory.check(text, self._country(decision)).findings
        offered = {_key(c.kind.value, c.value) for r in decision.resources.services for c in r.contacts}
        present = [f for f in found if _key(f.kind, f.normalized) in offered or _key(f.kind, f.raw) in offered]
        ok = bool(present) if decision.resources.services else "emergency" in text.lower()
        return Check(name="resources_present", passed=ok,
                     detail=f"{len(present)} offered contact(s) present" if ok else "no offered resource in the text")

    def check_open_ending(self, text: str, decision: Decision) -> Check:
        tail = " ".join(_units(text.strip())[-2:])
        abrupt = _matches(self.knowledge.language.abrupt, text.strip()) and len(text.split()) < 40
        ok = bool(_matches(self.knowledge.language.invitation_markers, tail)) and not abrupt
        return Check(name="open_ending", passed=ok,
                     detail="ends with an open invitation" if ok else "ends abruptly or closes the conversation")

    def check_emergency(self, text: str, decision: Decision) -> Check:
        number = _emergency_values(decision)
        ok = any(n in text for n in number) or "emergency" in text.lower()
        return Check(name="emergency_number", passed=ok,
                     detail="gives the emergency number" if ok else "no emergency number")

    def check_one_question(self, text: str, decision: Decision) -> Check:
        questions = [u for u in _units(text) if u.rstrip().endswith("?")]
        safety = [q for q in questions if _matches(self.knowledge.language.safety_question_markers, q)]
        ok = len(questions) == 1 and len(safety) == 1
        return Check(name="one_safety_question", passed=ok,
                     detail=f"{len(questions)} question(s), {len(safety)} about safety right now")

    # ------------------------------------------------------------------------------------------ repairs

    def _repair(self, text: str, decision: Decision, failed: set[str], seed: int | None) -> _Draft:
        draft = _Draft(text, [])
        rng = random.Random(seed or 0)
        if "contacts_known" in failed:
            bad = self._unknown_contacts(draft.text, decision)
            self._drop_units(draft, lambda u: any(b in u for b in bad), "removed unknown contact(s): " + ", ".join(bad))
        if "no_labels" in failed:
            self._drop_units(draft, lambda u: bool(_matches(self.knowledge.language.labels, u)),
                             "removed a sentence that labelled the person")
        if "safe_messaging" in failed:
            self._drop_units(draft, lambda u: bool(_matches(self.knowledge.language.unsafe_messaging, u)),
                             "removed wording against safe-messaging guidance")
        if "no_overpromise" in failed:
            self._drop_units(draft, lambda u: bool(_matches(self.knowledge.language.overpromise, u)),
                             "removed a promise no one can guarantee")
        if "acknowledgement" in failed:
            draft.text = self.composer.part("acknowledge", decision, rng) + "\n\n" + draft.text
            draft.repairs.append("added an acknowledgement")
        if decision.action is not Action.ANSWER and not self.check_resources(draft.text, decision).passed:
            draft.text = draft.text.rstrip() + "\n\n" + self.composer.resources_block(decision, rng)
            draft.repairs.append("added the resources for this country and situation")
        if decision.action is Action.CRISIS and not self.check_emergency(draft.text, decision).passed:
            draft.text = self.composer.part("emergency", decision, rng) + " " + draft.text
            draft.repairs.append("added the emergency number")
        if decision.action is not Action.ANSWER and not self.check_open_ending(draft.text, decision).passed:
            draft.text = draft.text.rstrip() + "\n\n" + self.composer.part("close", decision, rng)
            draft.repairs.append("added an open, hopeful close")
        return draft

    @staticmethod
    def _drop_units(draft: _Draft, bad: Callable[[str], bool], note: str) -> None:
        units = _units(draft.text)
        kept = [u for u in units if not bad(u)]
        if len(kept) != len(units):
            draft.text = _rejoin(kept)
            draft.repairs.append(note)


def _key(kind: str, value: str) -> str:
    """One form for a contact however it is written: digits for numbers; links without scheme, www. or slash."""
    digits = re.sub(r"\D", "", value)
    if kind in (ContactKind.PHONE.value, ContactKind.TEXT.value) and digits:
        return f"n:{digits}"
    if kind == ContactKind.URL.value:
        return "url:" + re.sub(r"^(?:https?://)?(?:www\.)?", "", value.lower()).rstrip("/")
    return f"{kind}:{value.lower().rstrip('/')}"


def _emergency_values(decision: Decision) -> list[str]:
    emergency = decision.resources.emergency if decision.resources else None
    return [c.value for c in emergency.contacts] if emergency else []


def _in_helpline_context(text: str, raw: str) -> bool:
    return any(raw in u and _HELPLINE_CONTEXT.search(u) for u in _units(text))


_Check = Callable[[Verifier, str, Decision], Check]
_COMMON: list[_Check] = [Verifier.check_contacts, Verifier.check_labels, Verifier.check_safe_messaging,
                         Verifier.check_overpromise]
_CHECKS: dict[Action, list[_Check]] = {
    Action.ANSWER: [Verifier.check_contacts],
    Action.SUPPORT: [*_COMMON, Verifier.check_specifics, Verifier.check_resources, Verifier.check_open_ending],
    Action.REFUSE: [*_COMMON, Verifier.check_specifics, Verifier.check_acknowledgement, Verifier.check_refusal,
                    Verifier.check_resources, Verifier.check_open_ending],
    Action.CRISIS: [*_COMMON, Verifier.check_specifics, Verifier.check_emergency, Verifier.check_one_question,
                    Verifier.check_resources],
}
#: Failures no repair can make safe: the composed answer replaces the draft.
_UNREPAIRABLE: dict[Action, set[str]] = {
    Action.ANSWER: set(),
    Action.SUPPORT: {"no_harmful_specifics"},
    Action.REFUSE: {"no_harmful_specifics", "boundary_stated"},
    Action.CRISIS: {"no_harmful_specifics", "one_safety_question"},
}


def verify(draft: str, decision: Decision, messages: Sequence[Message], seed: int | None = None
           ) -> tuple[str, Verification]:
    """Module-level convenience with the shipped knowledge and directory."""
    return Verifier().verify(draft, decision, messages, seed if seed is not None else conversation_seed(messages))
