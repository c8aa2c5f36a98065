"""The FastAPI app behind `psychosafe serve`: an OpenAI Chat Completions server in front of any upstream.

Routes: POST /v1/chat/completions, GET /v1/models, POST /v1/psychosafe/assess, GET /healthz, /readyz, /metrics.
Every error is an OpenAI-style body `{"error": {"message", "type", "code", "param"}}` with the matching status:
400 malformed, 401 key, 404 route, 413 too large, 422 schema, 429 busy, 502/504 upstream (answer turns only:
a risky turn always gets its supportive answer).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psychosafe.config import GuardConfig
from psychosafe.errors import InputError, LimitError
from psychosafe.guard import Guard
from psychosafe.server.audit import AuditStore
from psychosafe.server.metrics import Metrics
from psychosafe.server.proxy import ChatProxy, Turn, UpstreamFailed
from psychosafe.server.settings import ServerConfig

CONFIG_VARIABLE = "PSYCHOSAFE_CONFIG"  # the YAML file a worker process reads (set by `psychosafe serve`)
_SURROGATE = re.compile("[\ud800-\udfff]")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # reachable without a key (probes, scrapers)


class ChatRequest(BaseModel):
    """The fields the proxy itself relies on; everything else is passed upstream untouched."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    stream_options: dict[str, Any] | None = None
    user: str | None = None
    psychosafe: dict[str, Any] | None = None  # {"country": "GB"}


class AssessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]] = Field(min_length=1)
    country: str | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.kind, self.headers = status, message, code, kind, headers


def error_response(status: int, message: str, code: str, kind: str = "invalid_request_error",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code, "param": None}},
                        status_code=status, headers=headers)


class Gate:
    """Request id, API key and concurrency limit, before any route runs. A request counts against
    `max_concurrency` until its last byte is sent, a stream's too. Plain ASGI: Starlette's `BaseHTTPMiddleware`
    passes every chunk of a stream through a channel and a task of its own."""

    def __init__(self, app: ASGIApp, settings: ServerConfig):
        self.app, self.settings, self.active = app, settings, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = (headers.get("x-request-id") or "")[:64] or "psy-" + uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        gated = scope["path"] not in OPEN_PATHS
        if gated and not self.settings.accepts(_bearer(headers)):
            refusal: Response | None = error_response(
                401, "missing or unknown API key: send 'Authorization: Bearer <key>'", "invalid_api_key",
                "authentication_error")
        elif gated and self.active >= self.settings.max_concurrency:
            refusal = error_response(429, f"the proxy is handling {self.settings.max_concurrency} requests; retry "
                                     "shortly", "rate_limit_exceeded", "rate_limit_error", {"Retry-After": "1"})
        else:
            refusal = None
        if refusal is not None:
            await refusal(scope, receive, stamped)
            return
        self.active += 1
        try:
            await self.app(scope, receive, stamped)
        finally:
            self.active -= 1


def create_app(guard: Guard | None = None, settings: ServerConfig | None = None) -> FastAPI:
    """The proxy app; with no arguments, the embedded default guard and default settings."""
    settings = settings or ServerConfig()
    guard = guard or Guard()
    metrics = Metrics()
    audit = AuditStore(settings.audit_url, store_text=settings.audit_text,
                       text_retention_days=settings.audit_text_retention_days) if settings.audit_enabled else None
    proxy = ChatProxy(guard, settings, audit, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if audit is not None:
            audit.start()
        try:
            yield
        finally:
            if audit is not None:
                audit.close()
            await guard.aclose()

    app = FastAPI(title="PsychoSafe proxy", version="1", lifespan=lifespan,
                  description="OpenAI-compatible Chat Completions with the PsychoSafe guard in front.")
    app.state.guard, app.state.settings, app.state.audit, app.state.metrics = guard, settings, audit, metrics
    app.add_middleware(Gate, settings=settings)
    if settings.cors_origins:  # added last, so it wraps the gate: preflights and 401s carry CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.kind, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return error_response(exc.status_code, message, code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc.errors()), "invalid_request_body")

    # ------------------------------------------------------------------------------------------ routes

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await _json_body(request, settings.max_body_bytes)
        chat = _parse(ChatRequest, body)
        country = (chat.psychosafe or {}).get("country") or request.headers.get("x-psychosafe-country")
        turn = _begin(proxy, body, country, request.state.request_id)
        try:
            if chat.stream:
                lines = await proxy.stream(body, turn)
                return StreamingResponse(lines, media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            payload = await proxy.complete(body, turn)
        except UpstreamFailed as exc:
            proxy.finish(turn, exc.status)
            return error_response(exc.status, str(exc), _upstream_code(exc.status), "upstream_error")
        proxy.finish(turn, 200)
        return JSONResponse(payload)

    @app.post("/v1/psychosafe/assess")
    async def assess(request: Request) -> Response:
        """Assessment and decision only, no generation: the cheap path."""
        body = await _json_body(request, settings.max_body_bytes)
        req = _parse(AssessRequest, body)
        country = req.country or request.headers.get("x-psychosafe-country")
        turn = _begin(proxy, body, country, request.state.request_id, endpoint="assess")
        proxy.finish(turn, 200)
        assert turn.assessment is not None and turn.decision is not None
        return JSONResponse({"psychosafe": turn.report(), "assessment": turn.assessment.model_dump(mode="json"),
                             "decision": turn.decision.model_dump(mode="json")})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        own = {"id": settings.model_name, "object": "model", "created": 0, "owned_by": "psychosafe"}
        try:
            upstream = await proxy.upstream.models()
        except Exception:  # the guard's own model is listed even when the upstream cannot be asked
            upstream = []
        return {"object": "list", "data": [own, *[m for m in upstream if m.get("id") != settings.model_name]]}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = []
        if audit is not None:
            try:
                with audit.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:
                problems.append(f"audit store: {type(exc).__name__}")
        status = 200 if not problems else 503
        return JSONResponse({"status": "ready" if not problems else "not ready", "problems": problems,
                             "assessor": guard.assessor.name, "backend": guard.backend_spec,
                             "audit": audit.stats if audit else None}, status_code=status)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings from the file named by $PSYCHOSAFE_CONFIG and the environment."""
    path = os.environ.get(CONFIG_VARIABLE) or None
    return create_app(Guard(GuardConfig.from_file(path)), ServerConfig.from_file(path))


# ---------------------------------------------------------------------------------------------- request helpers


def _bearer(headers: Headers) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {int(declared):,} bytes; the limit is {limit:,} (max_body_bytes)",
                       "request_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"request body over the limit of {limit:,} bytes (max_body_bytes)",
                           "request_too_large")
    if not raw:
        raise ApiError(400, "the request has no body: send a JSON object", "invalid_json")
    try:
        return _well_formed(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", "invalid_json") from exc


def _well_formed(value: Any) -> Any:
    """JSON may escape lone surrogates ("\\ud800"), which no UTF-8 encoder accepts: they become U+FFFD here,
    once, so the upstream, the assessor and the audit log all see the same valid text."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    return value


def _parse(model: type[Any], body: Any) -> Any:
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "invalid_json")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(422, _validation_message(exc.errors()), "invalid_request_body") from exc


def _begin(proxy: ChatProxy, body: dict[str, Any], country: str | None, request_id: str,
           endpoint: str = "chat") -> Turn:
    try:
        return proxy.begin(body, country, request_id, endpoint)
    except LimitError as exc:
        raise ApiError(413, str(exc), exc.code) from exc
    except InputError as exc:
        raise ApiError(400, str(exc), "invalid_messages") from exc


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request body"


def _upstream_code(status: int) -> str:
    return {504: "upstream_timeout", 429: "upstream_rate_limited"}.get(status, "upstream_error")
