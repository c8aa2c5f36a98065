"""One chat-completions turn through the guard: assess, then relay (answer) or respond (risky), then audit.

- `answer` turns go to the upstream as they came. A stream is relayed sentence by sentence: each sentence is
  screened (`Guard.screen`) before it is released, and if the model goes into harmful specifics the rest of the
  stream is the composed, verified supportive refusal (`cut_over`), so those tokens never reach the person.
  A full reply is screened the same way.
- Risky turns (`support`, `refuse`, `crisis`) are generated and verified in full before a byte is sent; a stream
  then carries the verified text. Any upstream failure on a risky turn gives the composed answer (`fallback`).
- Every turn, whatever happened, ends in `finish`: one audit row and the metrics.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from psychosafe.errors import BackendError, BackendTimeout
from psychosafe.guard import DraftScreen, Guard
from psychosafe.server.audit import AuditStore
from psychosafe.server.metrics import Metrics
from psychosafe.server.settings import ServerConfig
from psychosafe.server.upstream import (
    Upstream,
    chunk_body,
    completion_body,
    estimate_usage,
    generation_options,
    new_id,
    upstream_for,
)
from psychosafe.triage.signals import without_words
from psychosafe.types import Action, Assessment, Decision, Message, Verification

#: Where a held-back stream is screened and released: the end of a sentence or line, or this much text.
_RELEASE_AT = re.compile(r"[.!?:;\n]\s*$")
_RELEASE_CHARS = 240


class UpstreamFailed(Exception):
    """An `answer` turn whose upstream failed: the client gets an OpenAI-style error with this status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Turn:
    """What happened to one request, for the response's `psychosafe` object, the audit row and the metrics."""

    request_id: str
    endpoint: str
    conversation: list[Message]
    country: str | None
    started: float = field(default_factory=time.perf_counter)
    assessment: Assessment | None = None
    decision: Decision | None = None
    verification: Verification | None = None
    fallback: bool = False
    cut_over: bool = False
    upstream_status: int | None = None
    error: str | None = None
    model: str | None = None
    reply: str = ""
    guard_s: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def action(self) -> Action | None:
        return self.decision.action if self.decision else None

    def report(self) -> dict[str, Any]:
        """The `psychosafe` object added to responses: the reason in machine-readable form."""
        a, d, v = self.assessment, self.decision, self.verification
        resources = d.resources.all() if d and d.resources else []
        return {
            "request_id": self.request_id,
            "action": d.action.value if d else None,
            "domain": d.domain.value if d and d.domain else None,
            "domains": [x.value for x in d.domains] if d else [],
            "intent": a.intent.value if a else None,
            "severity": a.severity.value if a else None,
            "role": d.role.value if d and d.role else None,
            "signals": [s.text for s in a.signals] if a else [],
            "reasons": list(d.reasons) if d else [],
            "country": d.resources.country if d and d.resources else self.country,
            "resources": [{"name": r.name, "contacts": [c.display() for c in r.contacts], "source": r.source,
                           "verified": r.verified.isoformat()} for r in resources],
            "verification": None if v is None else {
                "passed": v.passed, "draft_failed": [c.name for c in v.checks if not c.passed],
                "repairs": v.repairs, "fallback": v.fallback},
            "fallback": self.fallback,
            "cut_over": self.cut_over,
            "error": self.error,
            "assessor": a.assessor if a else None,
            "timings_ms": {**self.timings_ms, "guard": round(self.guard_s * 1000, 3),
                           "total": round((time.perf_counter() - self.started) * 1000, 3)},
        }


class ChatProxy:
    def __init__(self, guard: Guard, settings: ServerConfig, audit: AuditStore | None, metrics: Metrics):
        self.guard = guard
        self.settings = settings
        self.audit = audit
        self.metrics = metrics
        self._upstream: Upstream | None = None

    @property
    def upstream(self) -> Upstream:
        if self._upstream is None:
            self._upstream = upstream_for(self.guard.backend, self.settings.model_name)
        return self._upstream

    # ------------------------------------------------------------------------------------------ begin

    def begin(self, body: dict[str, Any], country: str | None, request_id: str | None = None,
              endpoint: str = "chat") -> Turn:
        """Validate and assess; raises InputError for a request that cannot be used."""
        messages = body.get("messages")
        # a tool or assistant turn last (an agent loop) is relayed; a person's turn must say something
        conversation = self.guard.validate(messages, user_last=False)  # type: ignore[arg-type]
        turn = Turn(request_id=request_id or "psy-" + uuid.uuid4().hex, endpoint=endpoint,
                    conversation=conversation, country=self.guard.country_for(country))
        mark = time.perf_counter()
        turn.assessment = self.guard.assessor.assess(conversation)
        turn.timings_ms["assess"] = _ms(mark)
        decide = time.perf_counter()
        turn.decision = self.guard.decide(turn.assessment, turn.country)
        if turn.decision.action is not Action.ANSWER and conversation[-1].role != "user":
            turn.conversation = conversation[: _last_user(conversation) + 1]  # respond to the person's own words
        turn.timings_ms["decide"] = _ms(decide)
        turn.guard_s += time.perf_counter() - mark
        return turn

    # ------------------------------------------------------------------------------------------ full replies

    async def complete(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        if turn.action is Action.ANSWER:
            payload = await self._upstream_call(turn, self.upstream.complete(body))
            turn.model = str(payload.get("model") or self.upstream.model)
            choice = payload["choices"][0]
            text = choice["message"].get("content")
            if isinstance(text, str) and (withheld := self._screen(turn, text)):
                choice["message"]["content"] = withheld
                choice["finish_reason"] = "stop"
            elif isinstance(text, str):
                choice["message"]["content"] = turn.reply = self._known_contacts_only(turn, text)
            payload["psychosafe"] = turn.report()
            return payload
        text = await self._respond(body, turn)
        return {**completion_body(text, self._model_id(body),
                                  usage=estimate_usage(_prompt_text(turn), text)), "psychosafe": turn.report()}

    # ------------------------------------------------------------------------------------------ streams

    async def stream(self, body: dict[str, Any], turn: Turn) -> AsyncIterator[str]:
        """Server-sent events. Everything that can fail with a status fails here, before the first byte."""
        if turn.action is Action.ANSWER:
            events = self.upstream.stream(body).__aiter__()
            first = await self._upstream_call(turn, events.__anext__())
            turn.model = str(first.get("model") or self.upstream.model)
            return self._relay(body, turn, first, events)
        text = await self._respond(body, turn)
        return self._emit(body, turn, text)

    async def _relay(self, body: dict[str, Any], turn: Turn, first: dict[str, Any],
                     events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
        held: list[dict[str, Any]] = []
        held_text = released = ""
        screen = self.guard.stream_screen(turn.conversation, turn.country, turn.assessment)
        relayed = _then_end(first, events)
        try:
            async for event in relayed:
                if event is not None:
                    held.append(event)
                    held_text += _delta_text(event)
                ready = event is None or _RELEASE_AT.search(held_text) or len(held_text) >= _RELEASE_CHARS
                if held_text and ready:
                    if self.settings.screen_streams and (withheld := self._screen(turn, held_text, screen)):
                        async for line in self._cut_over(body, turn, first, withheld, bool(released)):
                            yield line
                        return
                    shown = self._known_contacts_only(turn, held_text)
                    if shown != held_text:  # a sentence with an invented number was dropped: send what is left
                        held = _retexted(held, first, shown)
                    released, held_text = released + shown, ""
                    yield "".join(map(_sse, held))  # a released sentence's events in one write, not one each
                    held = []
            turn.reply = released
            tail: dict[str, Any] = {
                "id": first.get("id") or new_id(), "object": "chat.completion.chunk",
                "created": first.get("created") or int(time.time()), "model": first.get("model") or self._model_id(body),
                "choices": [], "psychosafe": turn.report()}
            # events without text (finish or usage chunks), the report and the end, together
            yield "".join(map(_sse, [*held, tail])) + "data: [DONE]\n\n"
        except BackendError as exc:  # the stream broke after it began: headers are sent, so say it in the stream
            self._note_upstream_error(turn, exc)
            turn.reply = released
            yield _sse({"error": {"message": str(exc), "type": "upstream_error", "code": _code(exc)},
                        "psychosafe": turn.report()})
        finally:
            await _close(relayed)
            await _close(events)
            self.finish(turn, 200)

    async def _cut_over(self, body: dict[str, Any], turn: Turn, first: dict[str, Any], text: str,
                        continued: bool) -> AsyncIterator[str]:
        chunk_id, created = str(first.get("id") or new_id()), int(first.get("created") or time.time())
        model = str(first.get("model") or self._model_id(body))
        yield _sse_reply(chunk_id, created, model, ("\n\n" if continued else "") + text, turn.report(),
                         opening=not continued)

    async def _emit(self, body: dict[str, Any], turn: Turn, text: str) -> AsyncIterator[str]:
        """A verified reply as a stream: the same chunks an OpenAI server would send."""
        try:
            usage = estimate_usage(_prompt_text(turn), text) \
                if (body.get("stream_options") or {}).get("include_usage") else None
            yield _sse_reply(new_id(), int(time.time()), self._model_id(body), text, turn.report(), usage=usage)
        finally:
            self.finish(turn, 200)

    # ------------------------------------------------------------------------------------------ parts

    async def _respond(self, body: dict[str, Any], turn: Turn) -> str:
        """A risky turn: the guard's verified reply; it never fails (the composer stands behind it)."""
        assert turn.decision is not None
        try:
            result = await self.guard.arespond(turn.conversation, country=turn.country,
                                               options=generation_options(body), assessment=turn.assessment)
        except Exception as exc:  # belt and braces: the guard already falls back on backend failures
            turn.error = f"{type(exc).__name__}: {exc}"
            text, turn.verification = self.guard.compose(turn.decision, turn.conversation)
            turn.fallback = True
            self.metrics.fallbacks.inc()
            turn.reply = text
            return text
        turn.decision, turn.verification = result.decision, result.verification
        turn.fallback, turn.model = result.fallback, result.backend
        turn.timings_ms.update({k: v for k, v in result.timings_ms.items() if k in ("generate", "verify")})
        turn.guard_s += (result.timings_ms.get("decide", 0) + result.timings_ms.get("verify", 0)) / 1000
        if result.backend != "composer" or result.error:
            turn.upstream_status = result.error_status or (502 if result.error else 200)
        if result.error:
            turn.error = result.error
            self.metrics.upstream_errors.labels(kind=_kind_of(result.error)).inc()
        if result.fallback:
            self.metrics.fallbacks.inc()
        turn.reply = result.text
        return result.text

    def _screen(self, turn: Turn, part: str, screen: DraftScreen | None = None) -> str | None:
        """The verified refusal to show instead of the reply so far (`part` added to what `screen` has read; a
        whole reply without one), or None while it may be shown."""
        mark = time.perf_counter()
        try:
            screen = screen or self.guard.stream_screen(turn.conversation, turn.country, turn.assessment)
            decision = screen.add(part)
            if decision is None:
                return None
            conversation = turn.conversation[: _last_user(turn.conversation) + 1]
            reply, verification = self.guard.compose(decision, conversation)
            turn.decision, turn.verification, turn.cut_over, turn.reply = decision, verification, True, reply
            self.metrics.cut_overs.inc()
            return reply
        finally:
            turn.guard_s += time.perf_counter() - mark
            turn.timings_ms["screen"] = round(turn.timings_ms.get("screen", 0.0) + _ms(mark), 3)

    def _known_contacts_only(self, turn: Turn, text: str) -> str:
        """`text` without the sentences that give a helpline number or link the directory does not hold for the
        person's country (a model's invented or outdated number never reaches them)."""
        assert turn.decision is not None
        verifier = self.guard.verifier
        if verifier.check_contacts(text, turn.decision).passed:
            return text
        mark = time.perf_counter()
        shown, verification = verifier.verify(text, turn.decision, turn.conversation)
        if turn.verification is not None:  # a stream repaired before: keep every repair
            verification.repairs[:0] = turn.verification.repairs
        turn.verification = verification
        turn.guard_s += time.perf_counter() - mark
        return shown

    async def _upstream_call(self, turn: Turn, call: Any) -> Any:
        mark = time.perf_counter()
        try:
            result = await call
            turn.upstream_status = 200
            return result
        except BackendError as exc:
            self._note_upstream_error(turn, exc)
            raise UpstreamFailed(str(exc), _client_status(exc)) from exc
        except StopAsyncIteration as exc:
            error = BackendError("the upstream stream ended before its first event", status=502)
            self._note_upstream_error(turn, error)
            raise UpstreamFailed(str(error), 502) from exc
        finally:
            turn.timings_ms["upstream"] = _ms(mark)

    def _note_upstream_error(self, turn: Turn, exc: BackendError) -> None:
        turn.upstream_status = exc.status or 502
        turn.error = f"{type(exc).__name__}: {exc}"
        self.metrics.upstream_errors.labels(kind=_code(exc)).inc()

    def _model_id(self, body: dict[str, Any]) -> str:
        return str(body.get("model") or self.settings.model_name)

    # ------------------------------------------------------------------------------------------ finish

    def finish(self, turn: Turn, status: int) -> None:
        """Audit and count one turn: called once per request, on success and failure alike."""
        action = turn.action.value if turn.action else "none"
        domain = turn.decision.domain.value if turn.decision and turn.decision.domain else "none"
        elapsed = time.perf_counter() - turn.started
        self.metrics.requests.labels(endpoint=turn.endpoint, action=action, domain=domain, status=str(status)).inc()
        self.metrics.latency.labels(endpoint=turn.endpoint, action=action).observe(elapsed)
        self.metrics.overhead.labels(endpoint=turn.endpoint).observe(turn.guard_s)
        if self.audit is None:
            return
        report = turn.report()
        signals = report["signals"] if self.audit.store_text else [without_words(s) for s in report["signals"]]
        self.audit.record({
            "request_id": turn.request_id, "endpoint": turn.endpoint, "status": status, "action": report["action"],
            "domain": report["domain"], "intent": report["intent"], "severity": report["severity"],
            "signals": signals, "resources": [r["name"] for r in report["resources"]],
            "verification": report["verification"], "fallback": turn.fallback, "cut_over": turn.cut_over,
            "country": report["country"], "model": turn.model, "assessor": report["assessor"],
            "upstream_status": turn.upstream_status, "error": turn.error, "latency_ms": round(elapsed * 1000, 3),
        }, turn.conversation, turn.reply or None)


# ---------------------------------------------------------------------------------------------- helpers


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def _last_user(conversation: list[Message]) -> int:
    return max((i for i, m in enumerate(conversation) if m.role == "user"), default=len(conversation) - 1)


def _prompt_text(turn: Turn) -> str:
    return "\n".join(m.content for m in turn.conversation)


def _delta_text(event: dict[str, Any]) -> str:
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    content = (choices[0].get("delta") or {}).get("content")
    return content if isinstance(content, str) else ""


def _retexted(held: list[dict[str, Any]], first: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """Held events with their text replaced by `text`: one content chunk (in the stream's own id and model) where
    the first text was; events without text (role, finish, usage) kept in place."""
    out: list[dict[str, Any]] = []
    placed = False
    for event in held:
        if not _delta_text(event):
            out.append(event)
        elif not placed:
            out.append(chunk_body(str(first.get("id") or new_id()), int(first.get("created") or time.time()),
                                  str(first.get("model") or ""), {"content": text}))
            placed = True
    return out


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _sse_reply(chunk_id: str, created: int, model: str, text: str, report: dict[str, Any], *,
               opening: bool = True, usage: dict[str, int] | None = None) -> str:
    """A verified text as the events an OpenAI server streams (the role, pieces of a few words, the stop with our
    report, usage when asked for, [DONE]), sent in one write: the text is complete, nothing is gained by more."""
    events = [chunk_body(chunk_id, created, model, {"role": "assistant", "content": ""})] if opening else []
    events += [chunk_body(chunk_id, created, model, {"content": piece}) for piece in _pieces(text)]
    events.append({**chunk_body(chunk_id, created, model, {}, finish_reason="stop"), "psychosafe": report})
    if usage is not None:
        events.append({"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [], "usage": usage})
    return "".join(map(_sse, events)) + "data: [DONE]\n\n"


def _pieces(text: str) -> list[str]:
    """A verified text in stream-sized pieces (a few words each), whitespace kept so they join back exactly."""
    words = re.findall(r"\S+\s*|\s+", text)
    return ["".join(words[i:i + 4]) for i in range(0, len(words), 4)] or [""]


def _code(exc: BackendError) -> str:
    if isinstance(exc, BackendTimeout):
        return "upstream_timeout"
    return f"upstream_http_{exc.status}" if exc.status and exc.status != 502 else "upstream_unavailable"


def _kind_of(error: str) -> str:
    return "upstream_timeout" if error.startswith("BackendTimeout") else "upstream_error"


def _client_status(exc: BackendError) -> int:
    """The status an `answer` turn's client sees: the upstream's own client errors pass through."""
    if isinstance(exc, BackendTimeout):
        return 504
    if exc.status in (400, 404, 413, 422, 429):
        return exc.status
    return 502


async def _then_end(first: dict[str, Any], events: AsyncIterator[dict[str, Any]]
                    ) -> AsyncIterator[dict[str, Any] | None]:
    """The first event, the rest, then None: the relay's last release is the same step as every other."""
    yield first
    async for event in events:
        yield event
    yield None


async def _close(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # closing a broken upstream stream must not hide what happened
            await aclose()

