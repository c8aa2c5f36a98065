"""Any OpenAI-compatible Chat Completions server: OpenAI, vLLM, Ollama, llama.cpp server, TGI, PsychoSafe itself.

Spoken to with plain httpx so the core install needs no SDK. Every failure becomes a `BackendError` that says
what happened (timeout, refused connection, HTTP status with the server's own message, malformed body).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from psychosafe.backends.base import Completion, GenerationOptions
from psychosafe.errors import BackendError, BackendTimeout, ConfigError
from psychosafe.types import Message

OPENAI_BASE_URL = "https://api.openai.com/v1"
KEY_VARIABLES = ("PSYCHOSAFE_UPSTREAM_API_KEY", "OPENAI_API_KEY")


def parse_openai_spec(target: str) -> tuple[str, str]:
    """`gpt-4o-mini` -> (OpenAI, model); `http://host:8000/v1#model` -> (that server, model)."""
    if target.startswith(("http://", "https://")):
        base, _, model = target.partition("#")
        if not model:
            raise ConfigError(f"openai spec {target!r} names no model: write it as 'openai:{base}#MODEL'")
        return base.rstrip("/"), model
    if not target:
        raise ConfigError("openai spec names no model: write 'openai:MODEL' or 'openai:BASE_URL#MODEL'")
    return OPENAI_BASE_URL, target


class OpenAICompatibleBackend:
    def __init__(self, spec: str, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float = 60.0, transport: httpx.AsyncBaseTransport | None = None):
        self.spec = spec
        self.base_url = base_url
        self.model = model
        key = api_key or next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        if key is None and base_url == OPENAI_BASE_URL:
            raise ConfigError("the OpenAI API needs a key: set OPENAI_API_KEY (or PSYCHOSAFE_UPSTREAM_API_KEY)")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport,
                                         timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def _body(self, messages: Sequence[Message], options: GenerationOptions | None, stream: bool) -> dict:
        options = options or GenerationOptions()
        body: dict[str, Any] = dict(options.extra)
        body.update(model=self.model, messages=[m.model_dump() for m in messages], stream=stream)
        for name in ("max_tokens", "temperature", "top_p", "stop", "seed"):
            value = getattr(options, name)
            if value is not None:
                body[name] = value
        return body

    async def complete(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        payload = await self.forward(self._body(messages, options, stream=False))
        choice = payload["choices"][0]
        return Completion(text=choice["message"].get("content") or "", model=payload.get("model", self.model),
                          finish_reason=choice.get("finish_reason") or "stop", usage=payload.get("usage") or {})

    async def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None
                     ) -> AsyncIterator[str]:
        async for event in self.forward_stream(self._body(messages, options, stream=True)):
            delta = event["choices"][0].get("delta", {}).get("content") if event.get("choices") else None
            if delta:
                yield delta

    # ------------------------------------------------------------------------------------------ raw bodies
    # The proxy forwards a client's request body as it came (tools, logprobs, unknown fields) and relays the
    # server's reply; these two calls are that path, and `complete` / `stream` are built on them.

    async def forward(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a chat-completions body; the parsed reply, checked to hold a first choice with a message."""
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"{self.base_url} did not answer in time", status=504) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach {self.base_url}: {exc.__class__.__name__}", status=502) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            payload = response.json()
            if not isinstance(payload["choices"][0]["message"], dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.base_url} returned a malformed completion body", status=502) from exc
        return payload

    async def forward_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST a streaming body; each parsed event. A malformed event or a stream without [DONE] raises.

        The body is read to its end after [DONE] (a few bytes at most), so the connection goes back to the pool:
        leaving it unread made every streamed turn open a new TCP connection."""
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                done = False
                async for line in response.aiter_lines():
                    if done:
                        if line.strip():  # more than the end of the body: give the connection up
                            return
                        continue
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        continue
                    try:
                        event = json.loads(data)
                        if not isinstance(event, dict) or not isinstance(event.get("choices", []), list):
                            raise TypeError("not a chunk object")
                    except (ValueError, TypeError) as exc:
                        raise BackendError(f"{self.base_url} sent a malformed stream event", status=502) from exc
                    if "error" in event:
                        raise BackendError(f"{self.base_url} sent an error event: {event['error']}", status=502)
                    yield event
                if not done:
                    raise BackendError(f"{self.base_url} ended the stream without [DONE]", status=502)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"{self.base_url} did not answer in time", status=504) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach {self.base_url}: {exc.__class__.__name__}", status=502) from exc

    def _status_error(self, response: httpx.Response) -> BackendError:
        try:
            detail = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        return BackendError(f"{self.base_url} returned HTTP {response.status_code}: {detail}",
                            status=response.status_code)

    async def list_models(self) -> list[dict]:
        try:
            response = await self._client.get("/models")
            response.raise_for_status()
            return list(response.json().get("data", []))
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"could not list models at {self.base_url}", status=502) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
