"""Every upstream failure, on risky and benign turns, streamed and not: what the client sees and what is
audited.

Risky turns are drafted by the upstream here (`open_proxy`: compose_actions=[]), so a failure matters: the
person must still get the composed, verified answer (`fallback`). Benign turns have nothing safer to say than
the real answer, so they get an OpenAI-style error (502; 429 passes through; 504 on a timeout).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.server.helpers import (
    BENIGN,
    CRISIS,
    GOOD_CRISIS_DRAFT,
    Proxy,
    error_of,
    metric,
    report_of,
    request_id,
    stream_text,
    user,
)
from tests.support.upstream import UpstreamControl

#: fault -> (status a benign turn gets, error code, upstream_status in the audit row, error text)
HTTP_FAULTS: dict[str, tuple[int, str, int, str]] = {
    "http_500": (502, "upstream_error", 500, "HTTP 500: upstream exploded"),
    "http_429": (429, "upstream_rate_limited", 429, "HTTP 429: slow down"),
    "malformed_json": (502, "upstream_error", 502, "malformed"),
    "missing_choices": (502, "upstream_error", 502, "malformed"),
    "slow": (504, "upstream_timeout", 504, "did not answer in time"),
    "refused": (502, "upstream_error", 502, "could not reach"),
}
#: faults that only exist in a stream: the upstream answers, then its event stream breaks
SSE_FAULTS = ("broken_sse", "bad_sse_event", "error_event")
TIMEOUT_S = 1.0  # the guard's upstream timeout in open_proxy / refused_proxy
STREAMING = pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])


@pytest.fixture
def arrange(control: UpstreamControl, open_proxy: Proxy, refused_proxy: Proxy) -> Any:
    """Set a fault on the upstream; the proxy to call (refused: the proxy whose upstream port is closed)."""

    def set_fault(fault: str) -> Proxy:
        if fault == "refused":
            return refused_proxy
        control.fault = fault
        if fault == "slow":
            control.delay_s = TIMEOUT_S + 0.5  # longer than the timeout, short enough to keep the suite fast
        return open_proxy

    return set_fault


def call(proxy: Proxy, text: str, rid: str, stream: bool, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """(reply text, psychosafe report) of one turn through the SDK."""
    response = proxy.client().chat.completions.create(
        model="psychosafe", messages=user(text), stream=stream, extra_headers={"X-Request-ID": rid}, **kwargs
    )
    if stream:
        chunks = list(response)
        return stream_text(chunks), report_of(chunks[-1])
    return response.choices[0].message.content, report_of(response)


# ---------------------------------------------------------------------------------------------- risky turns


@STREAMING
@pytest.mark.parametrize("fault", list(HTTP_FAULTS))
def test_a_risky_turn_gets_the_composed_answer_whatever_the_upstream_does(
    arrange: Any, control: UpstreamControl, fault: str, stream: bool
) -> None:
    control.reply = GOOD_CRISIS_DRAFT  # what the upstream would have said, had it worked
    proxy, rid = arrange(fault), request_id()
    started = time.monotonic()
    text, report = call(proxy, CRISIS, rid, stream, extra_body={"psychosafe": {"country": "GB"}})
    elapsed = time.monotonic() - started
    assert report["action"] == "crisis" and report["fallback"] is True
    assert "999" in text and "116 123" in text and text != GOOD_CRISIS_DRAFT
    assert report["verification"]["passed"]
    assert report["error"] and HTTP_FAULTS[fault][3] in report["error"]
    if fault != "refused":
        assert [r["stream"] for r in control.requests] == [False]  # asked once, for a complete draft
    if fault == "slow":
        assert elapsed < TIMEOUT_S + 0.45, "the proxy waited past its upstream timeout"
    row = proxy.audit_row(rid)
    assert row["status"] == 200 and row["action"] == "crisis" and row["fallback"] is True
    assert row["error"] == report["error"]
    assert row["reply"] == text and row["verification"]["passed"]


def test_the_audit_row_of_a_risky_fallback_records_the_upstream_status(
    arrange: Any, control: UpstreamControl
) -> None:
    # The upstream answered HTTP 500; the row of the turn it failed should say so in `upstream_status`, as the
    # rows of answer turns do (not only inside the free-text `error`).
    proxy, rid = arrange("http_500"), request_id()
    call(proxy, CRISIS, rid, False)
    row = proxy.audit_row(rid)
    assert row["fallback"] is True and "HTTP 500" in row["error"]
    assert row["upstream_status"] == 500


@pytest.mark.parametrize("fault", [*SSE_FAULTS, "slow_sse"])
def test_stream_faults_never_touch_a_risky_stream(
    open_proxy: Proxy, control: UpstreamControl, fault: str
) -> None:
    # A risky stream asks the upstream for one complete reply, so a broken event stream cannot reach it.
    control.reply, control.fault = GOOD_CRISIS_DRAFT, fault
    text, report = call(open_proxy, CRISIS, request_id(), True, extra_body={"psychosafe": {"country": "GB"}})
    assert text == GOOD_CRISIS_DRAFT and report["fallback"] is False and report["error"] is None
    assert [r["stream"] for r in control.requests] == [False]


def test_a_fallback_is_counted(arrange: Any) -> None:
    proxy = arrange("http_500")
    before = metric(proxy, "psychosafe_fallbacks_total")
    call(proxy, CRISIS, request_id(), False)
    assert metric(proxy, "psychosafe_fallbacks_total") == before + 1


# ---------------------------------------------------------------------------------------------- benign turns


@STREAMING
@pytest.mark.parametrize("fault", list(HTTP_FAULTS))
def test_a_benign_turn_gets_an_openai_error_when_the_upstream_fails(
    arrange: Any, control: UpstreamControl, fault: str, stream: bool
) -> None:
    status, code, upstream_status, detail = HTTP_FAULTS[fault]
    if stream and fault in ("malformed_json", "missing_choices"):
        detail = "without [DONE]"  # a JSON body where an event stream was asked for: no event, no [DONE]
    proxy, rid = arrange(fault), request_id()
    with pytest.raises(openai.APIStatusError) as caught:
        call(proxy, BENIGN, rid, stream)
    assert caught.value.status_code == status
    if status == 429:
        assert isinstance(caught.value, openai.RateLimitError)
    error = error_of(caught.value.response)
    assert error["type"] == "upstream_error" and error["code"] == code and detail in error["message"]
    assert caught.value.response.headers["x-request-id"] == rid
    if fault != "refused":
        assert [r["stream"] for r in control.requests] == [stream]  # tried once: the proxy does not retry
    row = proxy.audit_row(rid)
    assert row["status"] == status and row["upstream_status"] == upstream_status
    assert row["action"] == "answer" and detail in row["error"] and row["fallback"] is False


def test_an_upstream_error_is_counted_by_kind(arrange: Any) -> None:
    proxy = arrange("http_500")
    before = metric(proxy, "psychosafe_upstream_errors_total", kind="upstream_http_500")
    with pytest.raises(openai.InternalServerError):
        call(proxy, BENIGN, request_id(), False)
    assert metric(proxy, "psychosafe_upstream_errors_total", kind="upstream_http_500") == before + 1
    assert metric(proxy, "psychosafe_requests_total", endpoint="chat", action="answer", status="502") >= 1


@pytest.mark.parametrize(
    ("fault", "released", "detail"),
    [
        ("broken_sse", "Here is an ordinary answer.", "without [DONE]"),  # every word relayed, then no [DONE]
        ("bad_sse_event", "", "malformed stream event"),  # broke on the second event, before a sentence ended
        ("error_event", "", "model overloaded"),  # the upstream said so in an `error` event
    ],
)
def test_a_benign_stream_that_breaks_after_it_began_ends_in_an_error_event(
    open_proxy: Proxy, control: UpstreamControl, fault: str, released: str, detail: str
) -> None:
    control.fault, rid = fault, request_id()
    chunks: list[Any] = []
    stream = open_proxy.client().chat.completions.create(
        model="psychosafe", messages=user(BENIGN), stream=True, extra_headers={"X-Request-ID": rid}
    )
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            chunks.append(chunk)
    assert not isinstance(
        caught.value, openai.APIStatusError
    )  # status 200 was sent: the error is in the stream
    assert caught.value.body["type"] == "upstream_error" and detail in caught.value.body["message"]
    assert stream_text(chunks) == released
    row = open_proxy.audit_row(rid)
    assert row["status"] == 200 and row["upstream_status"] == 502 and detail in row["error"]
    assert (row["reply"] or "") == released


def test_a_stream_whose_upstream_stalls_mid_way_times_out_with_an_error_event(
    open_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply, control.fault, control.chunk_delay_s = "Hello. Here is an ordinary answer", "slow_sse", 1.4
    rid = request_id()
    chunks: list[Any] = []
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        for chunk in open_proxy.client().chat.completions.create(
            model="psychosafe", messages=user(BENIGN), stream=True, extra_headers={"X-Request-ID": rid}
        ):
            chunks.append(chunk)
    assert time.monotonic() - started < TIMEOUT_S + 0.35
    assert stream_text(chunks) == "Hello."  # the first sentence had been screened and released
    assert caught.value.body["code"] == "upstream_timeout"
    row = open_proxy.audit_row(rid)
    assert (
        row["status"] == 200 and row["upstream_status"] == 504 and row["error"].startswith("BackendTimeout")
    )
    assert row["reply"] == "Hello."


def test_a_client_that_hangs_up_mid_stream_still_leaves_an_audit_row(
    proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten."
    control.fault, control.chunk_delay_s = "slow_sse", 0.2
    rid = request_id()
    with httpx.stream(
        "POST",
        proxy.url + "/v1/chat/completions",
        timeout=10,
        headers={"X-Request-ID": rid},
        json={"model": "psychosafe", "messages": user(BENIGN), "stream": True},
    ) as response:
        assert response.status_code == 200
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    assert '"One."' in first
    row = proxy.audit_row(rid)
    assert row["status"] == 200 and row["action"] == "answer"
