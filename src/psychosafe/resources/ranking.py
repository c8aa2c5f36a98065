"""Choose which of a country's services to show for one risk domain and role, best first.

A person should see the service made for their situation first (a rape crisis line for a survivor, a
perpetrator line for someone afraid of hurting their partner), then a general crisis line, and only if the
country has neither, an international directory. Services for people who may harm others are never offered
when the role is unknown: being pointed to one can feel like an accusation.
"""

from __future__ import annotations

from collections.abc import Sequence

from psychosafe.types import Confidence, Domain, Resource, Role, ServiceKind

#: When no service covers a domain, the one whose services fit it best (a weapon threat is violence).
RELATED_DOMAIN: dict[Domain, Domain] = {Domain.WEAPONS: Domain.VIOLENCE}
#: Roles assumed when the role is unknown.
UNKNOWN_ROLE: frozenset[Role] = frozenset({Role.SELF, Role.VICTIM, Role.THIRD_PARTY})

_CONFIDENCE_RANK = {Confidence.CONFIRMED: 0, Confidence.LIKELY: 1}
_GENERAL = (ServiceKind.CRISIS_LINE, ServiceKind.DIRECTORY)


def rank(
    services: Sequence[Resource],
    domain: Domain | None,
    role: Role | None,
    *,
    youth: bool,
    min_confidence: Confidence,
) -> list[Resource]:
    """Every suitable service from `services` (one file, in file order), best first; may be empty."""
    roles = {role} if role else UNKNOWN_ROLE
    pool = [
        s
        for s in services
        if s.kind is not ServiceKind.EMERGENCY
        and _CONFIDENCE_RANK[s.confidence] <= _CONFIDENCE_RANK[min_confidence]
        and (youth or s.kind is not ServiceKind.YOUTH)
        and roles & set(s.roles)
    ]
    if domain is None:
        specialists = [s for s in pool if s.kind is ServiceKind.YOUTH]
        general = [s for s in pool if s.kind is ServiceKind.CRISIS_LINE]
    else:
        specialists = _specialists(pool, domain) or _specialists(pool, RELATED_DOMAIN.get(domain))
        general = [s for s in pool if s.kind in _GENERAL]
    # Stable sorts: within a confidence level, the file's order stands.
    specialists.sort(
        key=lambda s: (not (youth and s.kind is ServiceKind.YOUTH), _CONFIDENCE_RANK[s.confidence])
    )
    general.sort(key=lambda s: _CONFIDENCE_RANK[s.confidence])
    chosen: list[Resource] = []
    for service in specialists + general:
        if all(service is not c for c in chosen):
            chosen.append(service)
    return chosen


def _specialists(pool: list[Resource], domain: Domain | None) -> list[Resource]:
    if domain is None:
        return []
    return [s for s in pool if s.kind is not ServiceKind.DIRECTORY and domain in s.domains]
