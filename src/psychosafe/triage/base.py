"""The assessor protocol: anything that reads a conversation and returns an `Assessment`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from psychosafe.types import Assessment, Message


@runtime_checkable
class Assessor(Protocol):
    """Reads the whole conversation (user turns as the person's words, assistant turns as context)."""

    name: str

    def assess(self, messages: Sequence[Message]) -> Assessment: ...

    async def aassess(self, messages: Sequence[Message]) -> Assessment: ...
