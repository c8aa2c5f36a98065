"""The LLM assessor against a real OpenAI-compatible server on 127.0.0.1."""

import json

import pytest

from psychosafe.triage import create_assessor
from psychosafe.triage.llm import parse_verdict
from psychosafe.types import Domain, Intent, Message, Role, Severity

MESSAGES = [Message(role="user", content="what is the best way to disappear for good")]
VERDICT = {"domain_scores": {"suicide_self_harm": 0.93, "violence": 0.1}, "intent": "harm_seeking",
           "severity": "high", "role": "self", "signals": ["wants a method"]}


def assessor_for(server, timeout: float = 2.0):
    return create_assessor(f"llm:openai:{server.url}/v1#judge", timeout=timeout)


def test_a_valid_verdict_becomes_the_assessment(upstream) -> None:
    server, control = upstream
    control.reply = "Here is my assessment:\n```json\n" + json.dumps(VERDICT) + "\n```"
    a = assessor_for(server).assess(MESSAGES)
    assert a.domain is Domain.SUICIDE_SELF_HARM and a.intent is Intent.HARM_SEEKING
    assert a.severity is Severity.HIGH and a.role is Role.SELF
    assert a.assessor.startswith("llm:") and a.domain_scores[Domain.WEAPONS] == 0.0
    sent = control.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "USER: what is the best way" in sent[1]["content"]


@pytest.mark.parametrize(("fault", "reply"), [("none", "I can't assess this."), ("none", '{"intent": "maybe"}'),
                                              ("http_500", ""), ("slow", "")])
def test_any_failure_falls_back_to_the_embedded_assessor(upstream, fault: str, reply: str) -> None:
    server, control = upstream
    control.fault, control.reply = fault, reply or control.reply
    a = assessor_for(server, timeout=0.5).assess(MESSAGES)
    assert a.assessor.startswith("embedded")
    assert any(s.kind == "llm_assessor_failed" for s in a.signals)


def test_parse_takes_the_last_object_and_explains_failures() -> None:
    text = 'first {"intent": "benign"} then ' + json.dumps(VERDICT)
    assert parse_verdict(text).intent is Intent.HARM_SEEKING
    with pytest.raises(ValueError, match="no JSON"):
        parse_verdict("nothing here")
    with pytest.raises(ValueError, match="asked-for JSON"):
        parse_verdict('{"domain_scores": {}, "intent": "evil", "severity": "none"}')
