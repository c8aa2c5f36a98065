"""Routing rules (routes.yaml): which strategies fit a domain x intent x role, best first.

Wildcards keep the file small; the most specific matching rule wins. A named domain weighs more than a named role,
which weighs more than a named intent, because the risk cluster decides the strategy family and the role decides
whose words the self-help must be written for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from psychosafe.knowledge.schema import SnakeId
from psychosafe.types import Domain, Intent, Role

WILDCARD = "*"

_WEIGHTS = {"domain": 4, "role": 2, "intent": 1}


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: Domain | Literal["*"] | None  # None: emotional support without a risk cluster
    intent: Intent | Literal["*"]
    role: Role | Literal["*"]
    strategies: Annotated[list[SnakeId], Field(min_length=1)]

    @property
    def key(self) -> tuple[str | None, str, str]:
        return (self.domain, self.intent, self.role)

    @property
    def specificity(self) -> int:
        return sum(weight for field, weight in _WEIGHTS.items() if getattr(self, field) != WILDCARD)

    def matches(self, domain: Domain | None, intent: Intent, role: Role | None) -> bool:
        """Whether this rule applies; an unknown role (None) is matched only by the role wildcard."""
        return (
            (self.domain == WILDCARD or self.domain == domain)
            and (self.intent == WILDCARD or self.intent == intent)
            and (self.role == WILDCARD or self.role == role)
        )

    def describe(self) -> str:
        domain = "null" if self.domain is None else self.domain
        return f"domain={domain}, intent={self.intent}, role={self.role}"


def _unique_keys(routes: list[Route]) -> list[Route]:
    seen: set[tuple[str | None, str, str]] = set()
    for route in routes:
        if route.key in seen:
            raise ValueError(f"two rules for {route.describe()}")
        seen.add(route.key)
    return routes


Routes = Annotated[list[Route], Field(min_length=1), AfterValidator(_unique_keys)]


def resolve_route(
    routes: Iterable[Route], domain: Domain | None, intent: Intent, role: Role | None
) -> Route | None:
    """The most specific rule matching the situation, or None when no rule applies."""
    candidates = [route for route in routes if route.matches(domain, intent, role)]
    return max(candidates, key=lambda route: route.specificity, default=None)
