"""The offline composer: the four-part PsychoSafe answer from strategy-grounded building blocks.

1. acknowledge the person (and, when refusing, a gentle, transparent boundary);
2. one concrete self-help step from the chosen strategy, in the person's own terms;
3. resources from the directory, offered as options;
4. a specific, hopeful close that keeps the conversation open.
`crisis` replies lead with immediate safety and ask exactly one direct question. Wording varies by a seed
(derived from the conversation unless given), so the same conversation always reads the same and different
conversations read differently. Only the directory's numbers and the safe specifics of `personal.extract` ever
enter the text.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Sequence

from psychosafe.knowledge import Knowledge, load_knowledge
from psychosafe.respond.personal import Specifics, extract
from psychosafe.types import (
    Action,
    ContactKind,
    Decision,
    Intent,
    Message,
    Resource,
    ResourceMode,
    Role,
)

_SLOT = re.compile(r"{(\w+)}")

# The emergency line carries a number, so it lives here rather than in the number-free phrase banks.
_EMERGENCY = {
    "crisis": ("If you are in danger right now, call {number}.",
               "If you might act on this soon, call {number} now.",
               "Please call {number} if you are in immediate danger."),
    "crisis_third_party": ("If they are in danger right now, call {number}.",
                           "If they might act on this soon, call {number} now.",
                           "Please call {number} if they are in immediate danger."),
    "risk": ("If anyone is in immediate danger, call {number}.",
             "In an emergency, call {number}.",
             "If someone could get hurt right now, call {number}."),
}
_NO_MODEL = ("I can only help with safety-related conversations here: no language model is connected to "
             "answer other questions.")


def conversation_seed(messages: Sequence[Message]) -> int:
    """A stable seed per conversation: same words, same reply; a new turn, a new phrasing."""
    text = "\x1f".join(m.content for m in messages if m.role == "user")
    return zlib.crc32(text.encode("utf-8", "replace"))


def _emergency_line(decision: Decision, rng: random.Random) -> str:
    """The crisis emergency line, about the person at risk: "you", or "they" when the writer fears for someone."""
    key = "crisis_third_party" if decision.role is Role.THIRD_PARTY else "crisis"
    return rng.choice(_EMERGENCY[key]).format(number=emergency_number(decision))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def resource_line(resource: Resource) -> str:
    """"- Samaritans: call 116 123 or email jo@samaritans.org · samaritans.org (someone to listen, any time)".

    Only the entry's own facts: up to two ways to talk (phone, text, chat, email), then one website."""
    usable = [c for c in resource.contacts if c.label is None] or list(resource.contacts)
    talk = [c.display() for c in usable if c.kind is not ContactKind.URL][:2]
    site = next((_bare(c.value) for c in usable if c.kind is ContactKind.URL), None)
    how = " or ".join(talk) + (" · " if talk and site else "") + (site or "")
    detail = (resource.description or resource.hours or "").rstrip(".")
    detail = detail[:1].lower() + detail[1:] if detail[:2] != detail[:2].upper() else detail
    return f"- {resource.name}: {how}" + (f" ({detail})" if detail else "")


def _bare(url: str) -> str:
    return re.sub(r"^https?://(?:www\.)?", "", url).rstrip("/")


def emergency_number(decision: Decision) -> str:
    emergency = decision.resources.emergency if decision.resources else None
    phones = [c.value for c in emergency.contacts if c.kind is ContactKind.PHONE] if emergency else []
    return " or ".join(phones[:2]) if phones else "your local emergency number"


class Composer:
    def __init__(self, knowledge: Knowledge | None = None):
        self.knowledge = knowledge or load_knowledge()

    # ------------------------------------------------------------------------------------------ public

    def compose(self, decision: Decision, messages: Sequence[Message], seed: int | None = None) -> str:
        rng = random.Random(conversation_seed(messages) if seed is None else seed)
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        specifics = extract(last_user)
        if decision.action is Action.ANSWER:
            return _NO_MODEL
        if decision.action is Action.CRISIS:
            paragraphs = self._crisis(decision, specifics, rng)
        else:
            paragraphs = self._four_parts(decision, specifics, rng)
        return "\n\n".join(p for p in paragraphs if p)

    def resources_block(self, decision: Decision, rng: random.Random | None = None) -> str:
        """The resource part alone (the verifier appends it when a draft forgot it)."""
        return self._resources(decision, rng or random.Random(0), Specifics())

    def part(self, section: str, decision: Decision, rng: random.Random | None = None) -> str:
        """One building block (acknowledge, boundary, close, question, emergency), for the verifier's repairs."""
        rng = rng or random.Random(0)
        domain, intent, role = self._keys(decision)
        if section == "emergency":
            return _emergency_line(decision, rng)
        if section == "question":
            return self._pick(rng, Specifics(), "crisis", "question", domain, role)
        keys = {"acknowledge": (domain, intent, role), "boundary": (domain, role), "close": (domain, intent)}
        return self._pick(rng, Specifics(), section, *keys[section])

    # ------------------------------------------------------------------------------------------ parts

    @staticmethod
    def _keys(decision: Decision) -> tuple[str, str, str]:
        """Phrase-bank keys: domain (or general), the intent the reply answers, role (or any)."""
        if decision.action is Action.REFUSE:
            intent = Intent.HARM_SEEKING
        elif decision.intent in (Intent.BENIGN, Intent.HARM_SEEKING):
            intent = Intent.SUPPORT_SEEKING
        else:
            intent = decision.intent
        domain = decision.domain.value if decision.domain else "general"
        return domain, intent.value, decision.role.value if decision.role else "any"

    def _four_parts(self, decision: Decision, specifics: Specifics, rng: random.Random) -> list[str]:
        domain, intent, role = self._keys(decision)
        opening: list[str] = []
        if decision.after_refusal:
            opening.append(self._pick(rng, specifics, "after_refusal"))
        elif decision.after_crisis and decision.intent is Intent.BENIGN:
            opening.append(self._pick(rng, specifics, "check_in"))
        if decision.action is Action.REFUSE:
            opening.append(self._pick(rng, specifics, "acknowledge", domain, intent, role))
            opening.append(self._pick(rng, specifics, "boundary", domain, role))
        elif decision.intent is Intent.INFORMATIONAL:
            opening.append(self._pick(rng, specifics, "acknowledge", domain, intent, role))
        else:
            opening.append(self._pick(rng, specifics, "support_intro", domain))
            if decision.intent is Intent.SUPPORT_SEEKING:
                opening.append(self._pick(rng, specifics, "acknowledge", domain, intent, role))
        if decision.intent is Intent.INFORMATIONAL and decision.action is Action.SUPPORT:
            step = [self._strategy_outline(decision)]
        else:
            step = [self._pick(rng, specifics, "self_help_lead"), self._self_help(decision, specifics, rng)]
        if decision.role is Role.VICTIM:
            step.append(self._pick(rng, specifics, "victim_safety"))
        return [
            " ".join(_dedupe(opening)),
            " ".join(step),
            self._resources(decision, rng, specifics),
            self._pick(rng, specifics, "close", domain, intent),
        ]

    def _crisis(self, decision: Decision, specifics: Specifics, rng: random.Random) -> list[str]:
        domain, _, role = self._keys(decision)
        no_question = {"allow_question": False}
        safety = [
            self._pick(rng, specifics, "crisis", "safety_step", domain, role, **no_question),
            _emergency_line(decision, rng),
        ]
        if decision.role is Role.VICTIM:
            safety.append(self._pick(rng, specifics, "victim_safety", **no_question))
        return [
            self._pick(rng, specifics, "crisis", "open", **no_question),
            " ".join(safety),
            self._pick(rng, specifics, "crisis", "question", domain, role),
            self._resources(decision, rng, specifics, crisis=True),
            self._pick(rng, specifics, "crisis", "stay", **no_question),
        ]

    def _self_help(self, decision: Decision, specifics: Specifics, rng: random.Random) -> str:
        strategies = [self.knowledge.strategies[s] for s in decision.strategies if s in self.knowledge.strategies]
        if not strategies:
            return ""
        strategy = strategies[0] if len(strategies) == 1 or rng.random() < 0.6 else rng.choice(strategies[:3])
        return self._choose(rng, specifics, strategy.self_help_for(decision.role))

    def _strategy_outline(self, decision: Decision) -> str:
        """For a question about the topic: the chosen strategy's steps, as trained helpers use them."""
        strategy = next((self.knowledge.strategies[s] for s in decision.strategies
                         if s in self.knowledge.strategies), None)
        if strategy is None:
            return ""
        steps = "\n".join(f"- {step.name}: {step.meaning}" for step in strategy.steps)
        return f"What trained helpers do ({strategy.name}):\n{steps}"

    def _resources(self, decision: Decision, rng: random.Random, specifics: Specifics,
                   crisis: bool = False) -> str:
        resources = decision.resources
        if resources is None or decision.resource_mode is ResourceMode.NONE:
            return ""
        role = decision.role.value if decision.role else "any"
        services = resources.services[: (2 if crisis else 3)]
        if decision.resource_mode is ResourceMode.BRIEF and services:
            first = services[0]
            reminder = self._pick(rng, specifics, "resource_brief", role)
            return f"{reminder} ({first.name}: {first.contacts[0].display()})" if first.contacts else reminder
        lines = [self._pick(rng, specifics, "resource_lead", role, allow_question=False)]
        lines += [resource_line(r) for r in services]
        if not crisis:
            lines.append(rng.choice(_EMERGENCY["risk"]).format(number=emergency_number(decision)))
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------ choosing

    def _pick(self, rng: random.Random, specifics: Specifics, section: str, *keys: str,
              allow_question: bool = True) -> str:
        return self._choose(rng, specifics, self.knowledge.phrases.pool(section, *keys), allow_question)

    @staticmethod
    def _choose(rng: random.Random, specifics: Specifics, pool: Sequence[str], allow_question: bool = True) -> str:
        slots = specifics.slots()
        eligible = [t for t in pool if set(_SLOT.findall(t)) <= slots.keys()
                    and (allow_question or "?" not in t)]
        if not eligible:
            return ""
        personal = [t for t in eligible if _SLOT.search(t)]
        chosen = rng.choice(personal if personal and rng.random() < 0.7 else eligible)
        return _capitalise(chosen.format(**slots))


def _dedupe(parts: list[str]) -> list[str]:
    unique: list[str] = []
    for part in parts:
        if part and part not in unique:
            unique.append(part)
    return unique
