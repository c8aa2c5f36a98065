"""The offline composer as a chat backend: the full guard with no language model behind it.

Useful wherever a backend spec is expected (evaluation, the proxy's upstream in tests): it assesses the
conversation and writes the composed, verified PsychoSafe reply. The guard itself recognises this backend and
composes directly, without the round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from psychosafe.backends.base import Completion, GenerationOptions
from psychosafe.types import Message


class ComposerBackend:
    spec = "composer"
    model_name = "psychosafe-composer"

    def __init__(self, country: str | None = None):
        self.country = country

    async def complete(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        from psychosafe.guard import Guard  # the guard sits above the backends

        seed = (options.seed if options else None)
        result = await Guard(backend=self).arespond(list(messages), country=self.country, seed=seed)
        return Completion(text=result.text, model=self.model_name)

    async def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None
                     ) -> AsyncIterator[str]:
        yield (await self.complete(messages, options)).text

    async def aclose(self) -> None:
        return None
