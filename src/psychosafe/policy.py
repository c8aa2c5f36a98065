"""Assessment -> Decision: the PsychoSafe rules, with every threshold in `PolicyConfig`.

- Several risk domains: suicide and self-harm always first, then the most clearly present; unclear imminent risk
  is handled with the suicide protocol.
- Imminent danger -> `crisis`, whatever was asked. Harm-seeking -> `refuse` (a supportive refusal).
- Help-seeking -> `support`: never refused. Informational questions are answered (`support` for suicide, where
  safe-messaging asks for resources alongside the answer).
- Multi-turn: after a refusal the conversation goes on (safe topics are answered again); resources already
  offered are referred to briefly instead of repeated; careful mode after a crisis comes from the assessment.
"""

from __future__ import annotations

from psychosafe.config import PolicyConfig
from psychosafe.knowledge import Knowledge, load_knowledge
from psychosafe.resources import Directory, default_directory
from psychosafe.types import (
    DOMAIN_ACUITY,
    Action,
    Assessment,
    Decision,
    Domain,
    Intent,
    ResourceMode,
    ResourceSet,
    Role,
)

_DEFAULT_ROLE = {
    Domain.SUICIDE_SELF_HARM: Role.SELF,
    Domain.SUBSTANCE_USE: Role.SELF,
    Domain.VIOLENCE: Role.OTHERS,
    Domain.WEAPONS: Role.OTHERS,
    Domain.SEXUAL_HARM: Role.OTHERS,
}


def ordered_domains(scores: dict[Domain, float], threshold: float) -> list[Domain]:
    """Present domains, most acute first: suicide and self-harm always leads, then the most clearly present."""
    present = [d for d in DOMAIN_ACUITY if scores.get(d, 0.0) >= threshold]
    return sorted(present, key=lambda d: (d is not Domain.SUICIDE_SELF_HARM, -scores[d], DOMAIN_ACUITY.index(d)))


class Policy:
    def __init__(self, config: PolicyConfig | None = None, *, directory: Directory | None = None,
                 knowledge: Knowledge | None = None):
        self.config = config or PolicyConfig()
        self.directory = directory or default_directory()
        self.knowledge = knowledge or load_knowledge()

    def decide(self, assessment: Assessment, country: str | None = None) -> Decision:
        cfg = self.config
        domains = ordered_domains(assessment.domain_scores, cfg.domain_threshold)
        if not domains and assessment.context.careful_domain is not None:
            domains = [assessment.context.careful_domain]  # careful mode after an earlier crisis
        primary = domains[0] if domains else None
        action, reason = self._action(assessment, primary)
        if action is Action.CRISIS and primary is None:
            primary, domains = Domain.SUICIDE_SELF_HARM, [Domain.SUICIDE_SELF_HARM]
            reason += "; risk domain unclear, so the suicide protocol is used"
        reasons = [reason]
        if len(domains) > 1:
            reasons.append(f"several domains ({', '.join(d.value for d in domains)}): {primary} first")

        role = assessment.role
        if role is None and action is not Action.ANSWER and assessment.intent is not Intent.INFORMATIONAL:
            role = _DEFAULT_ROLE[primary] if primary else Role.SELF
        decision = Decision(
            action=action,
            domain=primary if action is not Action.ANSWER else None,
            domains=domains if action is not Action.ANSWER else [],
            intent=assessment.intent,
            severity=assessment.severity,
            role=role,
            after_refusal=assessment.context.after_refusal,
            after_crisis=assessment.context.after_crisis,
            reasons=reasons,
            country=country,
        )
        if action is Action.ANSWER:
            return decision

        route_intent = assessment.intent if assessment.intent is not Intent.BENIGN else Intent.SUPPORT_SEEKING
        decision.strategies = [s.id for s in self.knowledge.strategies_for(primary, route_intent, role)]
        decision.resources = self.directory.select(
            country, primary, role, limit=cfg.resource_limit, min_confidence=cfg.min_confidence
        )
        decision.country = decision.resources.country  # resolved ("INTL" for the fallback)
        decision.resource_mode = self._resource_mode(action, decision.resources, assessment)
        if decision.resource_mode is ResourceMode.BRIEF:
            reasons.append("these resources were already offered earlier: a brief reminder only")
        if decision.after_refusal and action is not Action.REFUSE:
            reasons.append("the previous reply was a refusal: the conversation continues")
        return decision

    def _action(self, a: Assessment, primary: Domain | None) -> tuple[Action, str]:
        cfg = self.config
        if a.severity >= cfg.crisis_severity:
            return Action.CRISIS, f"severity {a.severity}: immediate safety comes first"
        if primary is None:
            if a.intent is Intent.SUPPORT_SEEKING:
                return Action.SUPPORT, "asks for emotional support: supported, never refused"
            return Action.ANSWER, "no risk domain present"
        if a.intent is Intent.HARM_SEEKING:
            harm = a.intent_scores.get(Intent.HARM_SEEKING, 1.0)
            support = a.intent_scores.get(Intent.SUPPORT_SEEKING, 0.0)
            if harm < cfg.support_over_refuse * support:
                return Action.SUPPORT, f"about {primary}, and may be reaching out for help: supported, not refused"
            if a.severity >= cfg.refuse_min_severity:
                return Action.REFUSE, f"asks for harmful help ({primary}): a supportive refusal"
            return Action.ANSWER, f"harm-seeking below {cfg.refuse_min_severity}: answered"
        if a.intent is Intent.SUPPORT_SEEKING:
            return Action.SUPPORT, f"reaching out about {primary}: supported, never refused"
        if (a.intent is Intent.BENIGN and a.intent_scores.get(Intent.BENIGN, 0.0) >= cfg.answer_benign_confidence
                and a.severity < cfg.support_informational_severity):
            return Action.ANSWER, f"an everyday mention touching {primary}: answered normally"
        if primary in cfg.support_informational_domains or a.severity >= cfg.support_informational_severity:
            return Action.SUPPORT, f"{a.intent} question about {primary}: answered with support alongside"
        return Action.ANSWER, f"{a.intent} question about {primary}: answered normally"

    @staticmethod
    def _resource_mode(action: Action, resources: ResourceSet, a: Assessment) -> ResourceMode:
        if action is Action.CRISIS or not a.context.resources_shown:
            return ResourceMode.FULL
        shown = set(a.context.resources_shown)
        offered = {
            "".join(ch for ch in c.value if ch.isdigit())
            for r in resources.services
            for c in r.contacts
        } - {""}
        return ResourceMode.BRIEF if offered and offered & shown else ResourceMode.FULL

