"""The chat backend protocol: one async call for a full reply, one for a stream of text pieces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from psychosafe.types import Message


@dataclass(frozen=True)
class GenerationOptions:
    """What the caller may set per request; None leaves the backend's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    extra: dict = field(default_factory=dict)  # passed through to OpenAI-compatible servers untouched


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that turns a message list into assistant text."""

    spec: str  # the spec string it was created from, e.g. "local" or "openai:gpt-4o-mini"

    async def complete(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        ...

    def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> AsyncIterator[str]:
        ...

    async def aclose(self) -> None: ...
