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
        response = await self._post(self._body(messages, options, stream=False))
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendError(f"{self.base_url} returned a malformed completion body", status=502) from exc
        return Completion(text=text, model=payload.get("model", self.model),
                          finish_reason=choice.get("finish_reason") or "stop", usage=payload.get("usage") or {})

    async def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None
                     ) -> AsyncIterator[str]:
        body = self._body(messages, options, stream=True)
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                done = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                        raise BackendError(f"{self.base_url} sent a malformed stream event", status=502) from exc
                    if delta:
                        yield delta
                if not done:
                    raise BackendError(f"{self.base_url} ended the stream without [DONE]", status=502)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"{self.base_url} did not answer in time", status=504) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach {self.base_url}: {exc.__class__.__name__}", status=502) from exc

    async def _post(self, body: dict) -> httpx.Response:
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"{self.base_url} did not answer in time", status=504) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach {self.base_url}: {exc.__class__.__name__}", status=502) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        return response

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
