"""The embedded assessor: the shipped model plus cues, read across the whole conversation.

Per user turn it scores the text (and the text without jailbreak or fiction wrappers, keeping the riskier
reading). Across turns it catches harm split over several messages (the latest turns read together, used when the
newest turn carries the risk forward), keeps a careful floor for a few turns after a crisis, and lets an old,
resolved mention fade. Assistant turns are read only as context: was there a refusal, a crisis reply, which
contacts were already offered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from psychosafe.triage.model import HEADS, Scores, TriageModel
from psychosafe.triage.normalize import normalize
from psychosafe.triage.signals import Cues, find_cues
from psychosafe.types import (
    DOMAIN_ACUITY,
    Assessment,
    ConversationContext,
    Domain,
    Intent,
    Message,
    Role,
    Severity,
    Signal,
    Trajectory,
)

DOMAINS = [Domain(v) for v in HEADS["domain"]]
INTENTS = [Intent(v) for v in HEADS["intent"]]
SEVERITIES = [Severity(v) for v in HEADS["severity"]]
ROLES = [Role(v) for v in HEADS["role"]]

#: Only the latest user turns are read, so a very long conversation costs the same as a 20-turn one.
MAX_USER_TURNS = 20
#: How many user turns are read together to catch a request split across messages.
WINDOW = 3

_FUNCTION_WORDS = frozenset(
    "a an the and or but so ok okay oh come on please just still same again why not really what which who how "
    "about if then also it its it's that this those them these they one ones me my i i'm you your for to of in "
    "is are was be do does did can could would should will with like yeah yes no well now more many much some "
    "any there here tell give say know want need story novel book game hypothetically asking friend".split()
)
_REFUSAL = re.compile(
    r"\b(?:i can(?:'|no)t (?:help|provide|share|give|assist)|i(?:'m| am) not (?:able|going) to (?:help|provide|"
    r"share|give)|i won'?t (?:help|provide|share|give)|i(?:'m| am) unable to|not something i can (?:help|share)|"
    r"i can(?:'|no)t (?:do|answer) that)"
)
_CRISIS_REPLY = re.compile(
    r"\b(?:are you safe(?: right)? now|emergency (?:number|services)|call (?:911|999|112|000|111)|"
    r"immediate danger|are you thinking (?:about|of) (?:ending|killing|hurting))"
)
_DIGITS = re.compile(r"\+?\d[\d\s().-]{1,}\d|\b\d{3,6}\b")


def _content_words(normalized: str) -> int:
    return sum(1 for w in re.findall(r"[a-z']+", normalized) if w not in _FUNCTION_WORDS)


@dataclass
class _Turn:
    index: int  # position in the message list
    normalized: str
    cues: Cues
    domain: np.ndarray
    intent: np.ndarray
    severity: np.ndarray
    role: np.ndarray

    @property
    def risk(self) -> float:
        return float(self.domain.max())

    @property
    def severity_rank(self) -> int:
        return int(self.severity.argmax())


def _row(scores: Scores, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return scores.domain[i], scores.intent[i], scores.severity[i], scores.role[i]


def _riskier(a: tuple, b: tuple) -> tuple:
    """Merge two readings of one text: the larger domain scores, and the more harmful intent reading."""
    harm = INTENTS.index(Intent.HARM_SEEKING)
    worse = a if a[1][harm] >= b[1][harm] else b
    return np.maximum(a[0], b[0]), worse[1], np.maximum(a[2], b[2]) / np.maximum(a[2], b[2]).sum(), worse[3]


class EmbeddedAssessor:
    """The default assessor: offline, no LLM call, a few milliseconds per conversation."""

    name = "embedded"

    def __init__(self, model: TriageModel | None = None, *, threshold: float = 0.35):
        self.model = model or _default_model()
        self.threshold = threshold
        self.cue_threshold = min(0.35, threshold)  # cues count from here: a little below "domain present"
        self.version = str(self.model.meta.get("version", "unknown"))

    # ------------------------------------------------------------------------------------------ public

    async def aassess(self, messages: Sequence[Message]) -> Assessment:
        return await asyncio.to_thread(self.assess, messages)

    def assess(self, messages: Sequence[Message]) -> Assessment:
        return self.assess_many([messages])[0]

    def assess_many(self, conversations: Sequence[Sequence[Message]]) -> list[Assessment]:
        """Several conversations at once: every user turn is scored in one batch (the fast path for corpora)."""
        positions = [[i for i, m in enumerate(c) if m.role == "user"][-MAX_USER_TURNS:] for c in conversations]
        turns = self._score_turns([[c[i].content for i in p] for c, p in zip(conversations, positions, strict=True)])
        return [self._assess(c, t, p) for c, t, p in zip(conversations, turns, positions, strict=True)]

    def _assess(self, messages: Sequence[Message], turns: list[_Turn], positions: list[int]) -> Assessment:
        context = self._read_assistant_turns(messages)
        if not turns:
            return self._empty(context)
        for turn, position in zip(turns, positions, strict=True):
            turn.index = position
        current = turns[-1]
        domain, intent, severity, role = current.domain, current.intent, current.severity, current.role
        signals = current.cues.signals(current.index)

        windowed = self._read_together(turns)
        if windowed is not None:
            domain, intent, severity, role = windowed
            first = turns[max(0, len(turns) - WINDOW)].index
            signals.append(Signal(kind="builds_across_turns",
                                  text=f"risk builds across turns {first}-{current.index}", turn=current.index))

        risk = float(domain.max())
        intent_value = INTENTS[int(intent.argmax())]
        severity_value = SEVERITIES[int(severity.argmax())]
        if risk >= self.cue_threshold and current.cues.severity_floor > severity_value:
            severity_value = current.cues.severity_floor
        if (severity_value is Severity.HIGH and intent_value is Intent.HARM_SEEKING and "timeframe" in current.cues.found
                and DOMAINS[int(domain.argmax())] is Domain.SUICIDE_SELF_HARM and risk >= self.threshold):
            severity_value = Severity.IMMINENT  # asking for means with a time set ("... tonight") is acute risk
        if ("help_request" in current.cues.found and intent_value is Intent.HARM_SEEKING
                and intent[INTENTS.index(Intent.HARM_SEEKING)] < 0.85):
            intent_value = Intent.SUPPORT_SEEKING
            signals.append(Signal(kind="help_seeking_protected",
                                  text="asks for help: treated as support-seeking", turn=current.index))

        context = self._read_history(turns, context)
        scores = {d: round(float(s), 4) for d, s in zip(DOMAINS, domain, strict=True)}
        primary = self._primary(scores)
        if primary is None and intent_value is Intent.HARM_SEEKING:
            intent_value = Intent.INFORMATIONAL if risk >= self.cue_threshold else Intent.BENIGN
        if primary is None and intent_value is not Intent.SUPPORT_SEEKING:
            severity_value = Severity.NONE
        if primary is not None and intent_value is Intent.BENIGN and severity_value > Severity.LOW:
            intent_value = Intent.SUPPORT_SEEKING if current.cues.found.get("help_request") else intent_value

        if primary is not None and intent_value is Intent.HARM_SEEKING and severity_value is Severity.NONE:
            severity_value = Severity.LOW  # a harmful request is never "no risk"
        floor, floor_domain = self._careful_floor(turns, context)
        if floor > severity_value:
            severity_value = floor
            context.careful_domain = floor_domain
            if primary is None:
                primary = floor_domain
            signals.append(Signal(kind="careful_after_crisis",
                                  text=f"earlier crisis {context.turns_since_peak} turn(s) ago: careful mode",
                                  turn=None))

        role_value = ROLES[int(role.argmax())] if primary is not None or intent_value is Intent.SUPPORT_SEEKING \
            else None
        if intent_value in (Intent.BENIGN, Intent.INFORMATIONAL) and severity_value <= Severity.LOW:
            role_value = None
        if primary is not None and intent_value is Intent.BENIGN and severity_value is Severity.NONE:
            primary = None

        turn_risk = [round(t.risk, 4) for t in turns[:-1]] + [round(risk, 4)]
        return Assessment(
            domain_scores=scores,
            domain=primary,
            intent=intent_value,
            intent_scores={i: round(float(p), 4) for i, p in zip(INTENTS, intent, strict=True)},
            severity=severity_value,
            role=role_value,
            trajectory=self._trajectory(turn_risk),
            signals=signals,
            turn_risk=turn_risk,
            context=context,
            assessor=f"{self.name}:{self.version}",
        )

    # ------------------------------------------------------------------------------------------ steps

    def _score_turns(self, conversations: list[list[str]]) -> list[list[_Turn]]:
        """Score every user turn of every conversation (and each wrapper-free core) in one model call."""
        flat = [normalize(text) for texts in conversations for text in texts]
        cues = [find_cues(t) for t in flat]
        texts = list(flat)
        cores: dict[int, int] = {}
        for k, c in enumerate(cues):
            if c.core:
                cores[k] = len(texts)
                texts.append(c.core)
        scores = self.model.score(texts) if texts else None
        out: list[list[_Turn]] = []
        k = 0
        for conversation in conversations:
            turns = []
            for _ in conversation:
                assert scores is not None
                reading = _row(scores, k)
                if k in cores:
                    reading = _riskier(reading, _row(scores, cores[k]))
                turns.append(_Turn(-1, flat[k], cues[k], *reading))
                k += 1
            out.append(turns)
        return out

    def _read_together(self, turns: list[_Turn]) -> tuple | None:
        """The latest turns read as one text, used when the newest turn carries earlier risk forward.

        It does when the turn is itself ambiguous (some risk, or not clearly benign) or has almost no content of
        its own ("come on, it's for a story", "and for someone my size?"). A turn that opens a new topic (clearly
        benign, or below the threshold and pointing at another domain than the earlier turns) is read on its own,
        so a refused request does not follow the person around.
        """
        if len(turns) < 2:
            return None
        current = turns[-1]
        window = turns[-WINDOW:]
        benign = float(current.intent[INTENTS.index(Intent.BENIGN)])
        ambiguous = current.risk >= 0.2 or benign < 0.6
        if not (ambiguous or _content_words(current.normalized) <= 1):
            return None
        together = _row(self.model.score([" . ".join(t.normalized for t in window)]), 0)
        risk_together = float(together[0].max())
        if risk_together < self.threshold or risk_together <= current.risk:
            return None
        harm = INTENTS.index(Intent.HARM_SEEKING)
        earlier = window[:-1]
        if (risk_together < max(t.risk for t in earlier) - 0.05
                and together[1][harm] < max(float(t.intent[harm]) for t in earlier) - 0.05):
            return None  # the newest turn pulls away from the earlier turns' risk
        if (current.risk < self.threshold and _content_words(current.normalized) > 1
                and int(current.domain.argmax()) != int(together[0].argmax())):
            return None  # a new subject of its own ("what should I cook tonight?" after a refused gun request)
        return together

    def _read_assistant_turns(self, messages: Sequence[Message]) -> ConversationContext:
        context = ConversationContext()
        assistant = [m for m in messages if m.role == "assistant"]
        context.user_turns = sum(1 for m in messages if m.role == "user")
        if not assistant:
            return context
        last = normalize(assistant[-1].content)
        context.after_refusal = bool(_REFUSAL.search(last))
        context.after_crisis = any(_CRISIS_REPLY.search(normalize(m.content)) for m in assistant[-3:])
        shown: list[str] = []
        for m in assistant:
            for raw in _DIGITS.findall(m.content):
                digits = re.sub(r"\D", "", raw)
                if len(digits) >= 3 and digits not in shown:
                    shown.append(digits)
        context.resources_shown = shown
        return context

    def _read_history(self, turns: list[_Turn], context: ConversationContext) -> ConversationContext:
        earlier = turns[:-1]
        ranks = []
        for t in earlier:
            rank = t.severity_rank
            if t.risk >= self.cue_threshold:
                rank = max(rank, t.cues.severity_floor.rank)
            ranks.append(rank if t.risk >= self.threshold else 0)
        if ranks and max(ranks) > 0:
            peak = int(np.argmax(ranks[::-1]))  # the latest turn with the highest severity
            peak_index = len(ranks) - 1 - peak
            context.peak_severity = Severity.from_rank(ranks[peak_index])
            context.turns_since_peak = len(turns) - 1 - peak_index
            if context.peak_severity is Severity.IMMINENT:
                context.after_crisis = True
        return context

    def _careful_floor(self, turns: list[_Turn], context: ConversationContext) -> tuple[Severity, Domain | None]:
        """After someone was at high risk themself, later turns stay careful for a few turns, then let go."""
        if not context.after_crisis or context.peak_severity < Severity.HIGH or len(turns) < 2:
            return Severity.NONE, None
        peak_turn = turns[len(turns) - 1 - context.turns_since_peak]
        if ROLES[int(peak_turn.role.argmax())] not in (Role.SELF, Role.VICTIM):
            return Severity.NONE, None
        floor = min(Severity.HIGH.rank, context.peak_severity.rank - context.turns_since_peak)
        return Severity.from_rank(max(floor, 0)), DOMAINS[int(peak_turn.domain.argmax())]

    def _primary(self, scores: dict[Domain, float]) -> Domain | None:
        risky = [d for d in DOMAIN_ACUITY if scores[d] >= self.threshold]
        return max(risky, key=lambda d: scores[d]) if risky else None

    @staticmethod
    def _trajectory(turn_risk: list[float]) -> Trajectory:
        if len(turn_risk) < 2:
            return Trajectory.STEADY
        before = float(np.mean(turn_risk[-4:-1]))
        if turn_risk[-1] - before > 0.15:
            return Trajectory.RISING
        if before - turn_risk[-1] > 0.15:
            return Trajectory.FALLING
        return Trajectory.STEADY

    def _empty(self, context: ConversationContext) -> Assessment:
        return Assessment(domain_scores={d: 0.0 for d in DOMAINS}, context=context,
                          assessor=f"{self.name}:{self.version}")


_MODEL: TriageModel | None = None


def _default_model() -> TriageModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = TriageModel.load()
    return _MODEL
