"""Guard: assess -> decide -> respond -> verify, for one conversation at a time, keeping no state.

The cheap path is one call each (`assess`, `decide`); `respond` / `arespond` run the whole pipeline. On a risky
turn nothing can stop the person from getting a supportive answer: a backend failure, a timeout or a draft that
fails verification leads to the composed, verified reply (flagged `fallback`). On an `answer` turn a backend
failure is raised as `BackendError`, because there is nothing safer to say than the real answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from psychosafe.backends import ChatBackend, ComposerBackend, GenerationOptions, check_spec, create_backend
from psychosafe.config import GuardConfig
from psychosafe.errors import BackendError, InputError, LimitError
from psychosafe.knowledge import Knowledge, load_knowledge
from psychosafe.policy import Policy
from psychosafe.resources import Directory, default_directory, resolve_country
from psychosafe.respond.composer import Composer, conversation_seed
from psychosafe.respond.instruction import InstructionBuilder
from psychosafe.respond.verify import Verifier
from psychosafe.sync import run_sync
from psychosafe.triage import create_assessor
from psychosafe.triage.base import Assessor
from psychosafe.types import (
    Action,
    Assessment,
    Decision,
    Domain,
    GuardResult,
    Intent,
    Message,
    Severity,
    Verification,
)

MessagesLike = Sequence[Message | dict[str, Any]]


class Guard:
    def __init__(self, config: GuardConfig | None = None, *, backend: str | ChatBackend | None = None,
                 assessor: Assessor | None = None, directory: Directory | None = None,
                 knowledge: Knowledge | None = None):
        self.config = config or GuardConfig()
        self.knowledge = knowledge or load_knowledge()
        self.directory = directory or default_directory()
        self.assessor = assessor or create_assessor(self.config.assessor, timeout=self.config.timeout_s,
                                                    threshold=self.config.policy.domain_threshold)
        self.policy = Policy(self.config.policy, directory=self.directory, knowledge=self.knowledge)
        self.composer = Composer(self.knowledge)
        self.instructions = InstructionBuilder(self.knowledge)
        self.verifier = Verifier(self.knowledge, self.directory, self.composer)
        self._backend: ChatBackend | None = None if backend is None or isinstance(backend, str) else backend
        self._backend_spec = backend if isinstance(backend, str) else \
            (self._backend.spec if self._backend is not None else self.config.backend)
        check_spec(self._backend_spec)

    @classmethod
    def default(cls) -> Guard:
        """The embedded default: shipped assessor, SmolLM2-135M-Instruct on llama.cpp, offline."""
        return cls(GuardConfig())

    @property
    def backend_spec(self) -> str:
        return self._backend_spec

    @property
    def backend(self) -> ChatBackend:
        """Created on first use, so a guard that only assesses never loads a model."""
        if self._backend is None:
            self._backend = create_backend(self._backend_spec, timeout=self.config.timeout_s)
        return self._backend

    # ------------------------------------------------------------------------------------------ cheap path

    def assess(self, messages: MessagesLike) -> Assessment:
        return self.assessor.assess(self.validate(messages))

    def decide(self, assessment: Assessment, country: str | None = None) -> Decision:
        return self.policy.decide(assessment, self.country_for(country))

    # ------------------------------------------------------------------------------------------ full path

    def respond(self, messages: MessagesLike, country: str | None = None, seed: int | None = None,
                options: GenerationOptions | None = None) -> GuardResult:
        return run_sync(self.arespond(messages, country=country, seed=seed, options=options))

    async def arespond(self, messages: MessagesLike, country: str | None = None, seed: int | None = None,
                       options: GenerationOptions | None = None, assessment: Assessment | None = None
                       ) -> GuardResult:
        """The whole pipeline; pass `assessment` when the conversation was already assessed (the proxy does)."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        conversation = self.validate(messages)
        country_code = self.country_for(country)
        if assessment is None:
            assessment = await self.assessor.aassess(conversation)
        timings["assess"] = _ms(start)
        mark = time.perf_counter()
        decision = self.policy.decide(assessment, country_code)
        timings["decide"] = _ms(mark)
        seed = conversation_seed(conversation) if seed is None else seed

        mark = time.perf_counter()
        draft, used, error = await self._draft(decision, conversation, seed, options)
        timings["generate"] = _ms(mark)
        mark = time.perf_counter()
        text, verification = self.verifier.verify(draft, decision, conversation, seed)
        timings["verify"] = _ms(mark)
        timings["total"] = _ms(start)
        if verification.fallback and used != "composer":
            used = "composer"
        return GuardResult(text=text, assessment=assessment, decision=decision, verification=verification,
                           backend=used, fallback=error is not None or verification.fallback,
                           error=f"{type(error).__name__}: {error}" if error else None,
                           error_status=getattr(error, "status", None), timings_ms=timings)

    async def _draft(self, decision: Decision, conversation: list[Message], seed: int,
                     options: GenerationOptions | None) -> tuple[str, str, Exception | None]:
        """(draft text, backend used, the failure answered by the composer) — risky turns never fail."""
        no_model = self._backend_spec.partition(":")[0] == "composer" or isinstance(self._backend, ComposerBackend)
        if no_model or decision.action in self.config.compose_actions:
            return self.composer.compose(decision, conversation, seed), "composer", None
        options = options or GenerationOptions(max_tokens=self.config.max_tokens,
                                               temperature=self.config.temperature, seed=seed)
        prompt = conversation
        instruction = self.instructions.build(decision, conversation)
        if instruction:
            prompt = [Message(role="system", content=instruction)] + [
                Message(role="system", content="The application's own instructions (follow them where they do "
                        "not conflict with the above):\n" + m.content) if m.role in ("system", "developer") else m
                for m in conversation
            ]
        try:
            completion = await self.backend.complete(prompt, options)
            return completion.text, self._backend_spec, None
        except Exception as exc:  # any failure on a risky turn must still reach the person safely
            if decision.action is Action.ANSWER:
                if isinstance(exc, BackendError):
                    raise
                raise BackendError(f"backend {self._backend_spec} failed: {exc}") from exc
            return self.composer.compose(decision, conversation, seed), "composer", exc

    # ------------------------------------------------------------------------------------------ drafts

    def screen(self, messages: Sequence[Message], draft: str, country: str | None = None,
               assessment: Assessment | None = None) -> Decision | None:
        """A supportive-refusal Decision when a draft meant as a normal answer goes into the harmful specifics of
        a risk domain (a model that starts giving method details); None when it may be shown.

        Evidence is how clearly the draft or the conversation is about risk (assessor scores) and how many of a
        domain's specifics patterns the draft matches: one pattern needs that domain at `screen_threshold`, two or
        more need any domain at a third of it. So "400 mg of ibuprofen every 6 hours" passes while a synthesis
        recipe naming precursors does not. A stream is screened part by part with `stream_screen`.
        """
        return self.stream_screen(messages, country, assessment).add(draft)

    def stream_screen(self, messages: Sequence[Message], country: str | None = None,
                      assessment: Assessment | None = None) -> DraftScreen:
        """`screen` for a reply that arrives in parts: each part is read once, the verdict weighs all of them."""
        return DraftScreen(self, messages, country, assessment)

    def _screen_verdict(self, messages: Sequence[Message], draft: str, found: dict[Domain, int],
                        country: str | None, assessment: Assessment | None) -> Decision | None:
        if not any(found.values()):  # no specifics at all (most answers): nothing to weigh, no model call
            return None
        current = assessment or self.assessor.assess(messages)
        drafted = self.assessor.assess([Message(role="user", content=draft)]).domain_scores
        scores = {d: max(current.domain_scores.get(d, 0.0), drafted.get(d, 0.0)) for d in Domain}
        bar, risk = self.config.screen_threshold, max(scores.values())
        hits = [d for d, n in found.items() if (n >= 1 and scores[d] >= bar) or (n >= 2 and risk >= bar / 3)]
        if not hits:
            return None
        worst = max(hits, key=lambda d: (found[d], scores[d]))
        scores[worst] = 1.0  # the draft went into this domain: it leads, whatever the request looked like
        forced = current.model_copy(update={
            "domain_scores": scores, "domain": worst, "intent": Intent.HARM_SEEKING,
            "intent_scores": {Intent.HARM_SEEKING: 1.0}, "severity": max(current.severity, Severity.MODERATE),
        })
        decision = self.policy.decide(forced, self.country_for(country))
        decision.reasons.insert(0, f"the model's draft went into harmful specifics ({worst}): withheld")
        return decision

    def compose(self, decision: Decision, messages: Sequence[Message], seed: int | None = None
                ) -> tuple[str, Verification]:
        """The composed reply for a decision, verified: what every fallback shows."""
        conversation = list(messages)
        seed = conversation_seed(conversation) if seed is None else seed
        return self.verifier.verify(self.composer.compose(decision, conversation, seed), decision, conversation,
                                    seed)

    # ------------------------------------------------------------------------------------------ input

    def validate(self, messages: MessagesLike, *, user_last: bool = True) -> list[Message]:
        """Messages as models within the configured limits; `user_last=False` admits a tool or assistant turn
        last (an agent loop), which a proxy passes on. A person's turn last must never be empty."""
        return validate_messages(messages, max_messages=self.config.max_messages,
                                 max_chars=self.config.max_message_chars, user_last=user_last)

    def country_for(self, country: str | None) -> str | None:
        """The ISO code a request's country or locale names, else the configured default (None = international);
        raises InvalidCountryError for a string that names no country."""
        return resolve_country(country if country is not None else self.config.country)

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()


class DraftScreen:
    """A reply screened as it streams in. Each part's specifics patterns are read once, together with the end of
    the text before it (so a pattern across the seam still matches); rereading the whole reply at every sentence
    made the cost grow with the square of its length. The model reads the whole reply, and only once a pattern
    has matched."""

    OVERLAP = 200

    def __init__(self, guard: Guard, messages: Sequence[Message], country: str | None,
                 assessment: Assessment | None):
        self.guard, self.messages, self.country, self.assessment = guard, messages, country, assessment
        self.text = ""
        self.found: dict[Domain, set[str]] = {domain: set() for domain in Domain}

    def add(self, part: str) -> Decision | None:
        """The refusal to show instead of the reply so far, or None while it may be shown."""
        window = self.text[-self.OVERLAP:] + part
        self.text += part
        if not self.text.strip():
            return None
        for domain, patterns in self.guard.verifier.specifics_by_domain(window).items():
            self.found[domain] |= patterns
        return self.guard._screen_verdict(self.messages, self.text, {d: len(p) for d, p in self.found.items()},
                                          self.country, self.assessment)


def validate_messages(messages: MessagesLike, *, max_messages: int = 500, max_chars: int = 100_000,
                      user_last: bool = True) -> list[Message]:
    """Messages as models; raises InputError saying exactly what is wrong and where."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InputError("messages must be a list of {role, content} objects")
    if not messages:
        raise InputError("the conversation is empty: send at least one user message")
    if len(messages) > max_messages:
        raise LimitError(f"{len(messages)} messages; the limit is {max_messages} (max_messages)",
                         code="too_many_messages")
    out: list[Message] = []
    for i, raw in enumerate(messages):
        try:
            message = raw if isinstance(raw, Message) else Message.model_validate(raw)
        except Exception as exc:
            raise InputError(f"message {i}: {_first_error(exc)}") from exc
        if len(message.content) > max_chars:
            raise LimitError(f"message {i} has {len(message.content):,} characters; the limit is "
                             f"{max_chars:,} (max_message_chars)", code="message_too_long")
        content = message.content.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
        out.append(message.model_copy(update={"content": content}))
    last = out[-1]
    if last.role != "user":
        if not user_last:
            return out
        raise InputError(f"the last message must come from the user, not {last.role!r}")
    if not last.content.strip():
        raise InputError("the last user message is empty")
    return out


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else err["msg"]
    return str(exc)
