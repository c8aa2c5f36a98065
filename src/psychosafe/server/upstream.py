"""The proxy's view of the upstream model: a chat-completions body in, an OpenAI-shaped reply or chunks out.

An OpenAI-compatible upstream gets the client's body as it came (tools, logprobs, response_format and any
unknown field) and its reply is relayed as it is. Any other backend (the embedded model, llama.cpp, HF, the
composer) is wrapped: the body's messages and sampling options go in, an OpenAI-shaped reply is built around its
text.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

from psychosafe.backends import ChatBackend, GenerationOptions
from psychosafe.backends.openai_compat import OpenAICompatibleBackend
from psychosafe.types import Message

#: Body fields the proxy reads for itself and does not forward.
PROXY_FIELDS = ("psychosafe",)


class Upstream(Protocol):
    model: str

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def models(self) -> list[dict[str, Any]]: ...


def upstream_for(backend: ChatBackend, guard_model: str) -> Upstream:
    if isinstance(backend, OpenAICompatibleBackend):
        return RelayUpstream(backend, guard_model)
    return WrappedUpstream(backend)


def generation_options(body: dict[str, Any]) -> GenerationOptions:
    """The sampling options of a chat-completions body, for backends that are not relayed a body."""
    stop = body.get("stop")
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return GenerationOptions(max_tokens=tokens, temperature=body.get("temperature"), top_p=body.get("top_p"),
                             stop=[stop] if isinstance(stop, str) else stop, seed=body.get("seed"))


class RelayUpstream:
    """An OpenAI-compatible server: the body is forwarded, with `model` pointed at the configured model when the
    client asked for the guard's own id (a client naming another upstream model gets that one)."""

    def __init__(self, backend: OpenAICompatibleBackend, guard_model: str):
        self.backend = backend
        self.model = backend.model
        self.guard_model = guard_model

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in body.items() if k not in PROXY_FIELDS}
        if not out.get("model") or out["model"] == self.guard_model:
            out["model"] = self.model
        return out

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.backend.forward(self._body({**body, "stream": False}))

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async for event in self.backend.forward_stream(self._body({**body, "stream": True})):
            yield event

    async def models(self) -> list[dict[str, Any]]:
        return await self.backend.list_models()


class WrappedUpstream:
    def __init__(self, backend: ChatBackend):
        self.backend = backend
        self.model = str(getattr(backend, "model_name", backend.spec))

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        completion = await self.backend.complete(_messages(body), generation_options(body))
        return completion_body(completion.text, completion.model or self.model,
                               finish_reason=completion.finish_reason, usage=completion.usage or None)

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        stream_id, created = new_id(), int(time.time())
        yield chunk_body(stream_id, created, self.model, {"role": "assistant", "content": ""})
        async for piece in self.backend.stream(_messages(body), generation_options(body)):
            yield chunk_body(stream_id, created, self.model, {"content": piece})
        yield chunk_body(stream_id, created, self.model, {}, finish_reason="stop")

    async def models(self) -> list[dict[str, Any]]:
        return [{"id": self.model, "object": "model", "created": 0, "owned_by": "psychosafe"}]


def _messages(body: dict[str, Any]) -> list[Message]:
    return [Message.model_validate(m) for m in body.get("messages", [])]


# ---------------------------------------------------------------------------------------------- OpenAI shapes


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_body(text: str, model: str, *, finish_reason: str = "stop", usage: dict[str, int] | None = None,
                    completion_id: str | None = None) -> dict[str, Any]:
    return {
        "id": completion_id or new_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": usage or estimate_usage("", text),
    }


def chunk_body(chunk_id: str, created: int, model: str, delta: dict[str, Any], *,
               finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


def estimate_usage(prompt: str, reply: str) -> dict[str, int]:
    """Token counts for text the proxy wrote itself: about four characters a token (no tokenizer is shared)."""
    prompt_tokens, completion_tokens = -(-len(prompt) // 4), -(-len(reply) // 4)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
