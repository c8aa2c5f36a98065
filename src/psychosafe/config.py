"""GuardConfig: every setting has a safe default; a YAML file and PSYCHOSAFE_* environment variables override.

Precedence: arguments > environment > YAML file > defaults. Nested fields use a double underscore in the
environment, e.g. `PSYCHOSAFE_POLICY__DOMAIN_THRESHOLD=0.6`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from psychosafe.errors import ConfigError
from psychosafe.types import Action, Confidence, Domain, Severity


class PolicyConfig(BaseModel):
    """Thresholds that turn an assessment into an action."""

    model_config = ConfigDict(extra="forbid")

    domain_threshold: float = Field(0.35, ge=0.05, le=0.95, description="a domain counts as present from here "
                                    "(calibrated probability; chosen on the corpus's held-out split)")
    refuse_min_severity: Severity = Field(Severity.LOW, description="harm-seeking below this is answered")
    support_over_refuse: float = Field(
        3.0, ge=1.0, description="refuse only when harm-seeking is at least this many times as likely as "
        "support-seeking; otherwise support: refusing someone who asks for help is the costlier error (3.0 is "
        "the lowest ratio at which held-out help-seeking refusals stay at their minimum, 0.2 %; a harmful "
        "request below it still gets no harmful content)",
    )
    answer_benign_confidence: float = Field(
        0.8, ge=0.5, le=1.0, description="a message touching a risk domain is still answered normally when its "
        "intent is benign with at least this probability (\"tips for a long train journey?\")",
    )
    crisis_severity: Severity = Field(Severity.IMMINENT, description="from this severity the reply is `crisis`")
    support_informational_domains: list[Domain] = Field(
        default_factory=lambda: [Domain.SUICIDE_SELF_HARM],
        description="informational questions in these domains get `support` (safe-messaging: add resources)",
    )
    support_informational_severity: Severity = Field(
        Severity.MODERATE, description="informational questions at or above this severity get `support`"
    )
    resource_limit: int = Field(3, ge=1, le=10, description="services shown besides the emergency number")
    min_confidence: Confidence = Field(Confidence.LIKELY, description="the least-sourced entry still shown")


class GuardConfig(BaseSettings):
    """Settings of a Guard (and of the CLI and server built on it)."""

    model_config = SettingsConfigDict(env_prefix="PSYCHOSAFE_", env_nested_delimiter="__", extra="forbid")

    backend: str = Field("local", description="backend spec for generated replies (see `psychosafe backends`)")
    assessor: str = Field("embedded", description="assessor spec: `embedded` or `llm:<backend spec>`")
    country: str | None = Field(None, description="default country or locale when a request names none")
    compose_actions: list[Action] = Field(
        default_factory=lambda: [Action.SUPPORT, Action.REFUSE, Action.CRISIS],
        description="actions answered by the offline composer instead of the backend; with a capable model, "
        "[crisis] lets it write support and refusals (the verifier still checks every draft)",
    )
    screen_threshold: float = Field(
        0.5, ge=0.05, le=0.95, description="a normal answer is withheld when it is about a risk domain at least this "
        "clearly and carries that domain's harmful specifics (see Guard.screen)",
    )
    max_messages: int = Field(500, ge=1, description="most messages accepted in one conversation")
    max_message_chars: int = Field(100_000, ge=100, description="longest message accepted, in characters")
    timeout_s: float = Field(60.0, gt=0, description="backend timeout per call, seconds")
    max_tokens: int = Field(400, ge=16, description="reply length limit passed to the backend")
    temperature: float = Field(0.7, ge=0, le=2)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    @classmethod
    def from_file(cls, path: Path | str | None, **overrides: Any) -> GuardConfig:
        """The `guard:` section of a YAML file (or the whole file), then the environment, then the arguments."""
        return settings_from_file(cls, path, "guard", overrides)


#: Top-level sections of a config file; a file without a `guard:` section holds guard settings at the top.
SECTIONS = ("guard", "server")
_Settings = TypeVar("_Settings", bound=BaseSettings)


def settings_from_file(cls: type[_Settings], path: Path | str | None, section: str,
                       overrides: dict[str, Any]) -> _Settings:
    """One section of a YAML config file, overridden by the environment, then by explicit values."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"config {path} is not valid YAML{where}: {problem}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping of settings")
        if section in loaded:
            data = loaded[section]
        elif section == "guard":
            data = {k: v for k, v in loaded.items() if k not in SECTIONS}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path}: '{section}' must be a mapping of settings")
    try:
        from_env = cls()
        data = {**data, **{k: getattr(from_env, k) for k in from_env.model_fields_set}}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid {section} setting {where}: {err['msg']}") from exc
