"""The shared vocabulary of PsychoSafe.

Every module talks to its neighbours through these models, and every JSON output uses these names, so that
scripts can rely on them (`model_dump(mode="json")`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Domain(StrEnum):
    """The five risk clusters of the PsychoSafe paper."""

    SUICIDE_SELF_HARM = "suicide_self_harm"
    SUBSTANCE_USE = "substance_use"
    VIOLENCE = "violence"
    WEAPONS = "weapons"
    SEXUAL_HARM = "sexual_harm"


#: When several domains are present the most acute is addressed first; suicide always first.
DOMAIN_ACUITY: tuple[Domain, ...] = (
    Domain.SUICIDE_SELF_HARM,
    Domain.VIOLENCE,
    Domain.SEXUAL_HARM,
    Domain.WEAPONS,
    Domain.SUBSTANCE_USE,
)


class Intent(StrEnum):
    """What the person wants from this turn."""

    BENIGN = "benign"
    INFORMATIONAL = "informational"
    SUPPORT_SEEKING = "support_seeking"
    HARM_SEEKING = "harm_seeking"


class Severity(StrEnum):
    """How acute the risk is; ordered from none to imminent."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def from_rank(cls, rank: int) -> Severity:
        return _SEVERITY_ORDER[max(0, min(rank, len(_SEVERITY_ORDER) - 1))]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)


class Action(StrEnum):
    """What the guard does with a turn."""

    ANSWER = "answer"  # no risk: pass through
    SUPPORT = "support"  # help-seeking or informational: answer, add support, never refuse
    REFUSE = "refuse"  # harm-seeking: a PsychoSafe refusal
    CRISIS = "crisis"  # imminent danger: safety first


class Role(StrEnum):
    """Whose safety is at stake."""

    SELF = "self"  # the person themself is at risk
    VICTIM = "victim"  # the person is being harmed by someone
    OTHERS = "others"  # the person may harm someone
    THIRD_PARTY = "third_party"  # the person is worried about someone else


class Trajectory(StrEnum):
    """How risk moved across the user's turns."""

    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"


class ResourceMode(StrEnum):
    """How many resources a response shows: all, a short reminder, or none."""

    FULL = "full"
    BRIEF = "brief"
    NONE = "none"


class ContactKind(StrEnum):
    PHONE = "phone"
    TEXT = "text"  # SMS short code or number
    CHAT = "chat"
    URL = "url"
    EMAIL = "email"


class Confidence(StrEnum):
    """How well a helpline fact is sourced. Unverified entries are never shipped."""

    CONFIRMED = "confirmed"  # on the service's own site or a government page
    LIKELY = "likely"  # secondary sources only


class ServiceKind(StrEnum):
    """What a directory entry is for."""

    EMERGENCY = "emergency"
    CRISIS_LINE = "crisis_line"
    DOMESTIC_VIOLENCE = "domestic_violence"
    SEXUAL_VIOLENCE = "sexual_violence"
    SUBSTANCE_USE = "substance_use"
    YOUTH = "youth"
    PERPETRATOR_SUPPORT = "perpetrator_support"  # for people worried about harming others
    DIRECTORY = "directory"  # a directory of services (international fallback)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid", use_enum_values=False)


# --------------------------------------------------------------------------------------------------- messages

MessageRole = Literal["system", "developer", "user", "assistant", "tool"]


class Message(_Model):
    """One chat message. Content parts (OpenAI style) are flattened to their text."""

    model_config = ConfigDict(extra="ignore")

    role: MessageRole
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _flatten_parts(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            texts = []
            for part in value:
                if isinstance(part, str):
                    texts.append(part)
                elif isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
            return "\n".join(texts)
        raise ValueError("content must be a string or a list of content parts")


# --------------------------------------------------------------------------------------------------- assessment


class Signal(_Model):
    """One human-readable reason behind an assessment, e.g. kind="timeframe", text="timeframe: tonight"."""

    kind: str
    text: str
    turn: int | None = None  # index in the message list; None for conversation-level signals


class ConversationContext(_Model):
    """What the assessor read from earlier turns (the core keeps no state: all of it comes from the messages)."""

    user_turns: int = 0
    peak_severity: Severity = Severity.NONE
    turns_since_peak: int = 0
    after_refusal: bool = False  # an earlier assistant turn was a refusal
    after_crisis: bool = False  # an earlier turn was assessed imminent, or an assistant turn was a crisis reply
    resources_shown: list[str] = Field(default_factory=list)  # contacts an assistant turn already offered
    careful_domain: Domain | None = None  # set while later turns stay careful after an earlier crisis


class Assessment(_Model):
    domain_scores: dict[Domain, float]
    domain: Domain | None = None  # the primary domain, None when nothing scores as risky
    intent: Intent = Intent.BENIGN
    intent_scores: dict[Intent, float] = Field(default_factory=dict)
    severity: Severity = Severity.NONE
    role: Role | None = None
    trajectory: Trajectory = Trajectory.STEADY
    signals: list[Signal] = Field(default_factory=list)
    turn_risk: list[float] = Field(default_factory=list)  # risk per user turn, oldest first
    context: ConversationContext = Field(default_factory=ConversationContext)
    assessor: str = "unknown"


# --------------------------------------------------------------------------------------------------- resources


class Contact(_Model):
    kind: ContactKind
    value: str  # "116 123", "741741", "https://988lifeline.org/chat", "jo@samaritans.org"
    keyword: str | None = None  # for text lines: "text HOME to 741741" has keyword HOME
    label: str | None = None  # e.g. "TTY", "Spanish", "parents"

    def display(self) -> str:
        """How a person would use it: "call 116 123", "text SHOUT to 85258 (by SMS)", "chat at ..."."""
        if self.kind is ContactKind.TEXT:
            base = f"text {self.keyword} to {self.value}" if self.keyword else f"text {self.value}"
        elif self.kind is ContactKind.PHONE:
            base = f"call {self.value}"
        elif self.kind is ContactKind.EMAIL:
            base = f"email {self.value}"
        elif self.kind is ContactKind.CHAT:
            base = f"chat at {self.value}"
        else:
            base = self.value
        return f"{base} ({self.label})" if self.label else base


class Resource(_Model):
    """One service in the helpline directory, with its provenance."""

    id: str
    name: str
    country: str  # ISO 3166-1 alpha-2, or "INTL" for the international fallback
    kind: ServiceKind
    contacts: list[Contact]
    hours: str  # "24/7", "weekdays 9-17", "unknown - check the website"
    domains: list[Domain]
    roles: list[Role]
    languages: list[str] = Field(default_factory=list)
    region: str | None = None  # e.g. "Ontario" for a regional line
    description: str = ""  # one line in the user's terms: "free, confidential support 24/7"
    notes: str | None = None  # caveats for maintainers (conflicting sources, pilots)
    source: str  # URL the fact was checked against
    verified: dt.date
    confidence: Confidence


class ResourceSet(_Model):
    """Resources chosen for one decision: the emergency line plus matched services."""

    country: str  # resolved country, or "INTL"
    requested: str | None = None  # what the caller asked for ("en-GB", "zz", None)
    fallback: bool = False  # True when the country is not in the directory
    emergency: Resource | None = None
    services: list[Resource] = Field(default_factory=list)

    def all(self) -> list[Resource]:
        return ([self.emergency] if self.emergency else []) + list(self.services)


# --------------------------------------------------------------------------------------------------- decision


class Decision(_Model):
    action: Action
    domain: Domain | None = None
    domains: list[Domain] = Field(default_factory=list)  # every risky domain, most acute first
    intent: Intent = Intent.BENIGN
    severity: Severity = Severity.NONE
    role: Role | None = None
    strategies: list[str] = Field(default_factory=list)  # strategy ids from the knowledge base, best first
    resources: ResourceSet | None = None
    country: str | None = None  # the country it was made for, as resolved ("INTL" or None: international)
    resource_mode: ResourceMode = ResourceMode.NONE
    after_refusal: bool = False
    after_crisis: bool = False
    reasons: list[str] = Field(default_factory=list)  # why this action, in words


# --------------------------------------------------------------------------------------------------- verification


class Check(_Model):
    name: str
    passed: bool
    detail: str = ""


class Verification(_Model):
    passed: bool  # the final text passes every check
    checks: list[Check] = Field(default_factory=list)  # checks run on the draft
    repairs: list[str] = Field(default_factory=list)  # what was changed, in words
    fallback: bool = False  # the draft was replaced by the composed answer
    unknown_contacts: list[str] = Field(default_factory=list)  # numbers/URLs the directory does not hold


# --------------------------------------------------------------------------------------------------- result


class GuardResult(_Model):
    text: str
    assessment: Assessment
    decision: Decision
    verification: Verification
    backend: str  # the backend whose text was used ("local", "composer", ...)
    fallback: bool = False  # a backend failure or a failed verification led to the composed answer
    error: str | None = None  # what went wrong upstream, when fallback is due to a failure
    error_status: int | None = None  # the failed backend call's HTTP status, when it had one (504 on timeout)
    timings_ms: dict[str, float] = Field(default_factory=dict)

    @property
    def resources(self) -> list[Resource]:
        return self.decision.resources.all() if self.decision.resources else []
