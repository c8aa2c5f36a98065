"""The project's own labelled triage corpus: schema, loading and checking.

Single messages live in `data/messages/*.jsonl`, multi-turn conversations in `data/conversations/*.jsonl`.
Every row is validated on load, so a bad line is reported with its file and line number, never skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from psychosafe.errors import InputError
from psychosafe.types import Domain, Intent, Role, Severity

DATA_DIR = Path(__file__).parent / "data"

Style = Literal[
    "plain", "slang", "typos", "lowercase", "very_short", "long", "indirect", "euphemism", "rhetorical",
    "fiction", "asking_for_friend", "jailbreak", "non_native", "mixed_language", "formal", "emotional",
]

HardNegativeType = Literal[
    # the XSTest families
    "homonym", "figurative", "safe_target", "safe_context", "definition", "historical", "privacy",
    "discrimination_nonsense",
    # everyday mentions
    "games", "film_tv_books", "cooking", "medicine", "hunting_fishing", "pest_control", "programming",
    "sports", "work_school", "science", "law_policy", "history_news", "health_fitness", "other",
]


class Label(BaseModel):
    """What the assessor should conclude for one message (or one user turn in context)."""

    model_config = ConfigDict(extra="forbid")

    domains: list[Domain] = Field(default_factory=list)
    intent: Intent
    severity: Severity
    role: Role | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Label:
        if self.intent is Intent.BENIGN and (self.domains or self.severity is not Severity.NONE):
            raise ValueError("benign rows have no domains and severity 'none'")
        if self.intent is Intent.HARM_SEEKING and not self.domains:
            raise ValueError("harm_seeking rows name at least one domain")
        if self.intent is Intent.HARM_SEEKING and self.severity is Severity.NONE:
            raise ValueError("harm_seeking rows have severity of at least 'low'")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError("domains repeat")
        return self


class MessageRow(Label):
    text: str = Field(min_length=1)
    style: Style = "plain"
    hard_negative: HardNegativeType | None = None  # set on rows written to look risky that must not trigger

    @model_validator(mode="after")
    def _hard_negative_is_benign(self) -> MessageRow:
        if self.hard_negative and (
            self.intent not in (Intent.BENIGN, Intent.INFORMATIONAL) or self.severity > Severity.LOW
        ):
            raise ValueError("hard_negative rows are benign or informational, with severity none or low")
        return self


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)
    label: Label | None = None  # required on user turns: the assessment at this point of the conversation

    @model_validator(mode="after")
    def _label_on_user_turns(self) -> Turn:
        if self.role == "user" and self.label is None:
            raise ValueError("user turns carry a label")
        if self.role == "assistant" and self.label is not None:
            raise ValueError("assistant turns carry no label")
        return self


ConversationPattern = Literal[
    "escalation", "split_harm", "resolved", "after_refusal_benign", "after_crisis", "fiction_then_real",
    "jailbreak_persistence", "benign", "help_seeking", "disclosure", "de_escalation", "mixed_domains",
]


class ConversationRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    pattern: ConversationPattern
    turns: list[Turn] = Field(min_length=1)

    @model_validator(mode="after")
    def _ends_with_user(self) -> ConversationRow:
        if self.turns[-1].role != "user":
            raise ValueError("a conversation ends with a user turn")
        return self


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc


def load_messages(directory: Path | None = None) -> list[MessageRow]:
    """All single-message rows, in file then line order (deterministic)."""
    rows: list[MessageRow] = []
    for path in sorted((directory or DATA_DIR / "messages").glob("*.jsonl")):
        for number, raw in _read_jsonl(path):
            try:
                rows.append(MessageRow.model_validate(raw))
            except ValidationError as exc:
                raise InputError(f"{path}:{number}: {_first_error(exc)}") from exc
    return rows


def load_conversations(directory: Path | None = None) -> list[ConversationRow]:
    """All conversation rows, in file then line order (deterministic)."""
    rows: list[ConversationRow] = []
    for path in sorted((directory or DATA_DIR / "conversations").glob("*.jsonl")):
        for number, raw in _read_jsonl(path):
            try:
                rows.append(ConversationRow.model_validate(raw))
            except ValidationError as exc:
                raise InputError(f"{path}:{number}: {_first_error(exc)}") from exc
    return rows


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def summary(messages: list[MessageRow], conversations: list[ConversationRow]) -> dict[str, object]:
    """Counts a datasheet reports: per domain x intent, roles, severities, styles, hard negatives."""
    duplicates = [t for t, n in Counter(r.text.strip().lower() for r in messages).items() if n > 1]
    return {
        "messages": len(messages),
        "conversations": len(conversations),
        "user_turns": sum(1 for c in conversations for t in c.turns if t.role == "user"),
        "by_domain_intent": dict(
            Counter(f"{(r.domains[0].value if r.domains else '-')}/{r.intent.value}" for r in messages)
        ),
        "by_intent": dict(Counter(r.intent.value for r in messages)),
        "by_severity": dict(Counter(r.severity.value for r in messages)),
        "by_role": dict(Counter(r.role.value if r.role else "-" for r in messages)),
        "by_style": dict(Counter(r.style for r in messages)),
        "by_hard_negative": dict(Counter(r.hard_negative for r in messages if r.hard_negative)),
        "by_pattern": dict(Counter(c.pattern for c in conversations)),
        "duplicate_texts": len(duplicates),
    }


if __name__ == "__main__":  # python -m psychosafe.triage.corpus [DIR]: validate and print counts
    import sys

    base = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR
    msgs = load_messages(base / "messages")
    convs = load_conversations(base / "conversations")
    print(json.dumps(summary(msgs, convs), indent=2))
