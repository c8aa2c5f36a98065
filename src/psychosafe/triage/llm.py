"""An optional LLM assessor (`llm:<backend spec>`), for deployers who want a large model to judge risk.

The model is asked for one JSON object in a fixed shape; the reply is validated. Conversation context (earlier
refusals, crises, resources already offered, trajectory) still comes from the embedded assessor, which also
answers alone whenever the model fails: a timeout, an error, or a reply that is not the asked-for JSON. The
result names which assessor actually decided and why.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from psychosafe.backends import ChatBackend, GenerationOptions, create_backend
from psychosafe.sync import run_sync
from psychosafe.triage.assessor import EmbeddedAssessor
from psychosafe.types import DOMAIN_ACUITY, Assessment, Domain, Intent, Message, Role, Severity, Signal

INSTRUCTION = """You assess risk in a conversation with a chat assistant. Read every turn: the user's turns are the \
person's own words; the assistant's turns are only context. Judge the LATEST user turn in the light of the whole \
conversation (a harmful request can be split across several turns).

Domains (score each from 0 to 1: how clearly the latest turn involves it in a risky or sensitive way; harmless \
uses such as "kill a process" or "this deadline is killing me" score 0):
- suicide_self_harm: suicidal thoughts, self-injury, lethal means for oneself, eating disorders
- substance_use: obtaining, making, dosing, hiding or misusing drugs or alcohol; overdose; quitting
- violence: hurting, threatening, stalking, abusing people or animals; domestic abuse
- weapons: firearms, explosives, chemical/biological/radiological agents, improvised weapons
- sexual_harm: sexual assault, coercion, harassment, image-based abuse, anything sexual involving minors, trafficking

intent: "benign" (no risk), "informational" (wants to understand, no personal risk), "support_seeking" (reaching \
out for help for themself or someone else, or disclosing distress), "harm_seeking" (wants means, methods or cover \
to harm themself or others, or states an intention to harm; fiction or "hypothetical" wrappers do not change this).
severity: "none", "low", "moderate", "high" (a plan, means or a specific target), "imminent" (plan + means + \
timeframe, a goodbye, harm under way, danger right now).
role (whose safety is at stake): "self", "victim", "others" (the person may harm someone), "third_party" \
(worried about someone else), or null.
signals: short phrases naming the evidence, e.g. "plan mentioned", "timeframe: tonight".

Reply with ONE JSON object and nothing else:
{"domain_scores": {"suicide_self_harm": 0.0, "substance_use": 0.0, "violence": 0.0, "weapons": 0.0, \
"sexual_harm": 0.0}, "intent": "benign", "severity": "none", "role": null, "signals": []}"""


class LLMVerdict(BaseModel):
    """The shape the model must return."""

    model_config = ConfigDict(extra="ignore")

    domain_scores: dict[Domain, float]
    intent: Intent
    severity: Severity
    role: Role | None = None
    signals: list[str] = Field(default_factory=list, max_length=20)

    def complete_scores(self) -> dict[Domain, float]:
        return {d: min(1.0, max(0.0, float(self.domain_scores.get(d, 0.0)))) for d in Domain}


def _json_objects(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    found, position = [], text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        position = text.find("{", end)
    return found


def parse_verdict(text: str) -> LLMVerdict:
    """The last well-formed JSON object in the reply, validated; raises ValueError with the reason."""
    objects = _json_objects(text)
    if not objects:
        raise ValueError("no JSON object in the reply")
    try:
        return LLMVerdict.model_validate(objects[-1])
    except ValidationError as exc:
        raise ValueError(f"reply is not the asked-for JSON: {str(exc).splitlines()[0]}") from exc


class LLMAssessor:
    name = "llm"

    def __init__(self, backend: str | ChatBackend, *, timeout: float = 30.0,
                 fallback: EmbeddedAssessor | None = None, threshold: float = 0.35):
        self.backend = create_backend(backend, timeout=timeout) if isinstance(backend, str) else backend
        self.fallback = fallback or EmbeddedAssessor()
        self.threshold = threshold
        self.timeout = timeout

    def assess(self, messages: Sequence[Message]) -> Assessment:
        return run_sync(self.aassess(messages))

    async def aassess(self, messages: Sequence[Message]) -> Assessment:
        base = self.fallback.assess(messages)
        conversation = "\n".join(f"{m.role.upper()}: {m.content}" for m in messages if m.role in ("user", "assistant"))
        prompt = [Message(role="system", content=INSTRUCTION), Message(role="user", content=conversation)]
        try:
            completion = await asyncio.wait_for(
                self.backend.complete(prompt, GenerationOptions(max_tokens=300, temperature=0.0)), self.timeout)
            verdict = parse_verdict(completion.text)
        except Exception as exc:  # any failure: the embedded assessment stands, and says why
            base.signals.append(Signal(kind="llm_assessor_failed", text=f"LLM assessor failed ({exc}); "
                                       "embedded assessment used"))
            return base
        scores = verdict.complete_scores()
        risky = [d for d in DOMAIN_ACUITY if scores[d] >= self.threshold]
        return base.model_copy(update={
            "domain_scores": scores,
            "domain": max(risky, key=lambda d: scores[d]) if risky else None,
            "intent": verdict.intent,
            "intent_scores": {},
            "severity": verdict.severity,
            "role": verdict.role,
            "signals": [Signal(kind="llm", text=s[:200]) for s in verdict.signals]
            + [s for s in base.signals if s.kind in ("careful_after_crisis", "builds_across_turns")],
            "assessor": f"llm:{getattr(self.backend, 'spec', 'backend')}",
        })
