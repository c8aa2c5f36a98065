"""A small OpenAI-compatible server the tests control, run for real by uvicorn on 127.0.0.1.

The reply text, a delay and a fault mode are set per test through `UpstreamControl`; every request body is
recorded so tests can assert what was sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

FAULTS = ("none", "http_500", "http_429", "malformed_json", "missing_choices", "broken_sse", "bad_sse_event",
          "slow", "slow_sse", "error_event")


@dataclass
class UpstreamControl:
    # the reply text, or a function of the request body giving it (a judge test answers per prompt)
    reply: str | Callable[[dict[str, Any]], str] = "Here is an ordinary answer."
    fault: str = "none"
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0  # fault "slow_sse": the pause before each chunk after the first (0 = 0.25 s)
    requests: list[dict[str, Any]] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)  # the TCP port each request came from (reuse shows)


def build_app(control: UpstreamControl) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "test-model", "object": "model", "owned_by": "tests"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        control.requests.append(body)
        control.client_ports.append(request.client.port if request.client else 0)
        if control.fault == "slow" or control.delay_s:
            await asyncio.sleep(control.delay_s or 5.0)
        if control.fault == "http_500":
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, 500)
        if control.fault == "http_429":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, 429)
        if control.fault == "malformed_json":
            return PlainTextResponse("{not json", media_type="application/json")
        if control.fault == "missing_choices":
            return JSONResponse({"id": "x", "object": "chat.completion"})
        text = control.reply(body) if callable(control.reply) else control.reply
        if body.get("stream"):
            return StreamingResponse(_sse(control, text), media_type="text/event-stream")
        return {
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    return app


async def _sse(control: UpstreamControl, text: str):
    words = text.split(" ")
    for i, word in enumerate(words):
        if control.fault == "bad_sse_event" and i == 1:
            yield "data: {broken\n\n"
            return
        if control.fault == "error_event" and i == 1:
            yield 'data: {"error": {"message": "model overloaded", "type": "server_error"}}\n\n'
            return
        if control.fault == "slow_sse" and i > 0:
            await asyncio.sleep(control.chunk_delay_s or 0.25)
        piece = word if i == 0 else " " + word
        chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    if control.fault != "broken_sse":
        yield "data: [DONE]\n\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Run an ASGI app with uvicorn in a background thread for the duration of a test session."""

    def __init__(self, app: Any, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
