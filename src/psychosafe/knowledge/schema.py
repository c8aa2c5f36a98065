"""Schemas of domains.yaml, strategies.yaml and language.yaml.

The models check shape, names and regular expressions when a file is loaded, so a typo in a domain name or a
broken pattern fails loudly at start-up instead of silently weakening a safety check at run time. Content rules
that need several files at once (cross-references, minimum pool sizes) live in `checks.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from psychosafe.types import Domain, Role

#: Patterns in the knowledge base are always matched case-insensitively with re.search.
PATTERN_FLAGS = re.IGNORECASE

DOMAIN_KEYS: tuple[str, ...] = (*(d.value for d in Domain), "general")
INTENT_KEYS: tuple[str, ...] = ("harm_seeking", "support_seeking", "informational")
ROLE_KEYS: tuple[str, ...] = (*(r.value for r in Role), "any")

# Written out so pydantic can name the allowed values in its errors; tests prove they match the enums above.
DomainKey = Literal["suicide_self_harm", "substance_use", "violence", "weapons", "sexual_harm", "general"]
IntentKey = Literal["harm_seeking", "support_seeking", "informational"]
RoleKey = Literal["self", "victim", "others", "third_party", "any"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Texts = Annotated[list[Text], Field(min_length=1)]
SnakeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")]


def requires(*keys: str) -> AfterValidator:
    """A validator for mappings that must contain every one of `keys` (so lookups never hit a hole)."""

    def check(value: dict[str, object]) -> dict[str, object]:
        missing = [key for key in keys if key not in value]
        if missing:
            raise ValueError(f"missing key(s): {', '.join(missing)}")
        return value

    return AfterValidator(check)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The only ASCII characters that ASCII and Unicode matching read differently: Unicode's \s counts them as space.
_UNICODE_ONLY_SPACE = re.compile("[\x1c-\x1f]")


class Rule(_Model):
    """A regular expression with a short note saying what a match means."""

    pattern: str
    note: Text

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern, PATTERN_FLAGS)
        except re.error as error:
            raise ValueError(f"invalid regular expression: {error}") from error
        return pattern

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, PATTERN_FLAGS)

    @cached_property
    def _ascii_regex(self) -> re.Pattern[str]:
        """The same pattern for ASCII text, where ASCII matching is exact and about twice as fast (case folding
        and word boundaries need no Unicode tables); a pattern with non-ASCII letters keeps the Unicode form."""
        return re.compile(self.pattern, PATTERN_FLAGS | re.ASCII) if self.pattern.isascii() else self.regex

    def search(self, text: str) -> re.Match[str] | None:
        plain = text.isascii() and not _UNICODE_ONLY_SPACE.search(text)
        return (self._ascii_regex if plain else self.regex).search(text)


Rules = Annotated[list[Rule], Field(min_length=1)]


def matching(rules: Iterable[Rule], text: str) -> list[Rule]:
    """The rules whose pattern occurs in `text`."""
    return [rule for rule in rules if rule.search(text)]


class DomainInfo(_Model):
    """One risk cluster: what it covers, what signals it, and what a refusal must never contain."""

    title: Text
    scope: Text
    cues: Texts
    never_provide: Texts
    specifics: Rules
    safe_alternatives: Texts

    def find_specifics(self, text: str) -> list[Rule]:
        """The harmful-specifics patterns that occur in a draft."""
        return matching(self.specifics, text)


Domains = Annotated[dict[Domain, DomainInfo], requires(*(d.value for d in Domain))]


class Source(_Model):
    citation: Text
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")]


class Step(_Model):
    name: Text
    meaning: Text


class Strategy(_Model):
    """An evidence-based intervention strategy, with user-facing self-help steps in its spirit."""

    id: SnakeId
    name: Text
    summary: Text
    source: Source
    domains: Annotated[list[DomainKey], Field(min_length=1)]
    steps: Annotated[list[Step], Field(min_length=1)]
    instruction: Text
    self_help: Annotated[dict[RoleKey, Texts], Field(min_length=1)]

    def fits(self, domain: Domain | None) -> bool:
        """Whether the strategy is meant for this domain (None: emotional support, listed as `general`)."""
        return (domain.value if domain else "general") in self.domains

    def self_help_for(self, role: Role | None) -> list[str]:
        """The role's own steps followed by the `any` steps.

        An unknown role gets the `any` steps, or the person's own (`self`) ones when a strategy has none: when it is
        unclear whose safety is at stake, the person writing is treated as the one at risk.
        """
        if role is None:
            return list(self.self_help.get("any") or self.self_help.get("self", []))
        return [*self.self_help.get(role.value, []), *self.self_help.get("any", [])]


def _unique_ids(strategies: list[Strategy]) -> list[Strategy]:
    seen: set[str] = set()
    for strategy in strategies:
        if strategy.id in seen:
            raise ValueError(f"strategy id {strategy.id!r} appears twice")
        seen.add(strategy.id)
    return strategies


Strategies = Annotated[list[Strategy], Field(min_length=1), AfterValidator(_unique_ids)]


class Language(_Model):
    """Patterns the verifier uses on drafts, and the checker on our own texts."""

    labels: Rules
    label_words: Texts
    unsafe_messaging: Rules
    abrupt: Rules
    overpromise: Rules
    refusal_markers: Rules
    acknowledgement_markers: Rules
    invitation_markers: Rules
    safety_question_markers: Rules

    @cached_property
    def label_word_regex(self) -> re.Pattern[str]:
        """Any label word as a whole word ("addict" matches, "addiction" does not)."""
        words = sorted(self.label_words, key=len, reverse=True)
        return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", PATTERN_FLAGS)
