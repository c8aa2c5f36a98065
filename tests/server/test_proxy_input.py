"""What the proxy accepts and refuses, spoken to with raw httpx: bad bodies, limits, odd text, keys, CORS,
load.

Every refusal must be an OpenAI-style error body with the documented status.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from psychosafe.server.settings import hash_api_key
from tests.server.helpers import (
    BENIGN,
    CRISIS,
    GuardParts,
    Proxy,
    error_of,
    request_id,
    running_proxy,
    user,
)
from tests.support.upstream import UpstreamControl

JSON = {"content-type": "application/json"}


def chat(proxy: Proxy, body: Any, **kwargs: Any) -> httpx.Response:
    return proxy.post(json=body, **kwargs)


def raw(proxy: Proxy, content: bytes | str, **kwargs: Any) -> httpx.Response:
    return proxy.post(content=content, headers={**JSON, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture(scope="module")
def limits_proxy(guard_parts: GuardParts, upstream_url: str) -> Iterator[Proxy]:
    guard = guard_parts.guard(upstream_url, max_messages=5, max_message_chars=200)
    with running_proxy(guard, None, max_body_bytes=2_000) as running:
        yield running


@pytest.fixture(scope="module")
def auth_proxy(guard_parts: GuardParts, upstream_url: str) -> Iterator[Proxy]:
    with running_proxy(guard_parts.guard(upstream_url), None, api_keys=[hash_api_key("k1")]) as running:
        yield running


@pytest.fixture(scope="module")
def cors_proxy(guard_parts: GuardParts, upstream_url: str) -> Iterator[Proxy]:
    with running_proxy(
        guard_parts.guard(upstream_url), None, cors_origins=["https://app.example"]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def busy_proxy(guard_parts: GuardParts, upstream_url: str) -> Iterator[Proxy]:
    with running_proxy(guard_parts.guard(upstream_url), None, max_concurrency=1) as running:
        yield running


# ------------------------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{bad", "not valid JSON"),
        (b'{"messages": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"", "no body"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"just a string"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(
    proxy: Proxy, control: UpstreamControl, content: bytes, message: str
) -> None:
    response = raw(proxy, content)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_json" and error["type"] == "invalid_request_error"
    assert message in error["message"]
    assert control.requests == []


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"model": "psychosafe"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [1, 2]}, "messages.0"),
        ({"messages": user(BENIGN), "n": 2}, "n"),
        ({"messages": user(BENIGN), "temperature": 5}, "temperature"),
        ({"messages": user(BENIGN), "top_p": -1}, "top_p"),
        ({"messages": user(BENIGN), "max_tokens": 0}, "max_tokens"),
        ({"messages": user(BENIGN), "stream": "yes please"}, "stream"),
    ],
)
def test_a_body_that_breaks_the_schema_is_422_naming_the_field(
    proxy: Proxy, control: UpstreamControl, body: dict[str, Any], names: str
) -> None:
    response = chat(proxy, body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request_body"
    assert error["message"].startswith(names + ":"), error["message"]
    assert control.requests == []


@pytest.mark.parametrize(
    ("messages", "names"),
    [
        ([{"role": "wizard", "content": "hi"}], "message 0: role"),
        ([{"content": "hi"}], "message 0: role"),
        ([{"role": "user", "content": "hi"}, {"role": "user", "content": 5}], "message 1: content"),
    ],
)
def test_an_invalid_message_is_400_naming_the_message_and_field(
    proxy: Proxy, control: UpstreamControl, messages: list[Any], names: str
) -> None:
    response = chat(proxy, {"messages": messages})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_messages" and error["message"].startswith(names), error["message"]
    assert control.requests == []


@pytest.mark.parametrize("content", ["", "   \n "])
def test_an_empty_last_user_message_is_400(proxy: Proxy, control: UpstreamControl, content: str) -> None:
    # A person's turn must say something (an agent loop ending on a tool or assistant turn is relayed instead).
    response = chat(proxy, {"messages": [{"role": "user", "content": content}]})
    assert response.status_code == 400
    assert error_of(response)["message"] == "the last user message is empty"
    assert control.requests == []


@pytest.mark.parametrize("where", ["body", "header"])
@pytest.mark.parametrize("country", ["ZZ", "Narnia", "xx-YY"])
def test_an_unknown_country_is_400(proxy: Proxy, control: UpstreamControl, where: str, country: str) -> None:
    body: dict[str, Any] = {"messages": user(CRISIS)}
    headers = {}
    if where == "body":
        body["psychosafe"] = {"country": country}
    else:
        headers["X-PsychoSafe-Country"] = country
    response = chat(proxy, body, headers=headers)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_messages" and repr(country) in error["message"]


def test_an_unknown_route_is_404_and_a_wrong_method_405_in_the_openai_shape(proxy: Proxy) -> None:
    response = proxy.get("/v1/nothing-here")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found" and "/v1/nothing-here" in error["message"]
    response = proxy.get("/v1/chat/completions")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


# ---------------------------------------------------------------------------------------------- limits


def test_a_body_over_max_body_bytes_is_413(limits_proxy: Proxy, control: UpstreamControl) -> None:
    body = json.dumps({"messages": user("x" * 150), "padding": "p" * 3_000}).encode()
    response = raw(limits_proxy, body)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large" and "2,000" in error["message"]
    assert control.requests == []


def test_a_chunked_body_over_max_body_bytes_is_413_without_a_content_length(limits_proxy: Proxy) -> None:
    def pieces() -> Iterator[bytes]:  # a generator body is sent chunked, with no Content-Length to check
        yield b'{"messages": [{"role": "user", "content": "hi"}], "padding": "'
        for _ in range(10):
            yield b"p" * 500
        yield b'"}'

    response = raw(limits_proxy, pieces())  # type: ignore[arg-type]
    assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"


def test_too_many_messages_is_413(limits_proxy: Proxy, control: UpstreamControl) -> None:
    response = chat(limits_proxy, {"messages": [{"role": "user", "content": "hi"}] * 6})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "too_many_messages" and "limit is 5" in error["message"]
    assert chat(limits_proxy, {"messages": [{"role": "user", "content": "hi"}] * 5}).status_code == 200


@pytest.mark.parametrize(
    "content",
    ["y" * 201, [{"type": "text", "text": "y" * 150}, {"type": "text", "text": "y" * 60}]],
    ids=["string", "parts"],
)
def test_a_message_over_max_message_chars_is_413(
    limits_proxy: Proxy, control: UpstreamControl, content: Any
) -> None:
    response = chat(
        limits_proxy, {"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": content}]}
    )
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "message_too_long" and error["message"].startswith("message 1 has 2")
    assert control.requests == []


# ---------------------------------------------------------------------------------------- odd but valid input


@pytest.mark.parametrize(
    "text",
    [
        "How do I sort a list in Python?\u200b\u200c\u200d\ufeff",  # zero-width characters
        # right-to-left override and scripts
        "\u202eHow do I sort a list in Python?\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        # emoji with skin tone and zero-width joiner sequences
        "How do I sort a list in Python? \U0001f40d\U0001f44d\U0001f3fd \U0001f636\u200d\U0001f32b\ufe0f",
        "e\u0301\u0301\u0301 \x00 \x1b[31m How do I sort a list?",  # combining marks, NUL, escape codes
    ],
)
def test_odd_unicode_on_a_benign_turn_is_forwarded_as_it_came(
    proxy: Proxy, control: UpstreamControl, text: str
) -> None:
    response = chat(proxy, {"messages": user(text)})
    assert response.status_code == 200
    assert response.json()["psychosafe"]["action"] == "answer"
    assert control.requests[-1]["messages"] == user(text)


@pytest.mark.parametrize(
    "text",
    [
        "I want to e\u200bnd my life tonight",
        "\u202eI want to end my life tonight",
        "I want to end my life tonight \U0001f636\u200d\U0001f32b\ufe0f\U0001f52a",
    ],
)
def test_odd_unicode_does_not_hide_a_crisis(proxy: Proxy, text: str) -> None:
    response = chat(proxy, {"messages": user(text), "psychosafe": {"country": "GB"}})
    assert response.status_code == 200 and response.json()["psychosafe"]["action"] == "crisis"


def test_a_lone_surrogate_on_a_risky_turn_is_answered(proxy: Proxy) -> None:
    body = b'{"messages": [{"role": "user", "content": "I want to end my life tonight \\ud800"}]}'
    response = raw(proxy, body)
    assert response.status_code == 200 and response.json()["psychosafe"]["action"] == "crisis"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_lone_surrogate_on_a_benign_turn_does_not_crash_the_proxy(proxy: Proxy, stream: bool) -> None:
    # JSON allows the escape "\ud800"; the proxy must not fail with a bare 500 when it forwards the body.
    rid = request_id()
    text = "How do I sort a list \\ud800 in Python?"  # the JSON escape itself, not a Python string
    body = (
        f'{{"stream": {json.dumps(stream)}, "messages": [{{"role": "user", "content": "{text}"}}]}}'.encode()
    )
    response = raw(proxy, body, headers={"X-Request-ID": rid})
    assert response.status_code == 200, response.text[:200]
    assert proxy.audit_rows(rid, timeout=1.0), "the turn left no audit row"


def test_content_parts_are_read_for_the_assessment_and_forwarded_as_they_came(
    proxy: Proxy, control: UpstreamControl
) -> None:
    parts = [{"type": "text", "text": "How do I sort"}, {"type": "text", "text": "a list in Python?"}]
    response = chat(proxy, {"messages": [{"role": "user", "content": parts}]})
    assert response.status_code == 200 and response.json()["psychosafe"]["action"] == "answer"
    assert control.requests[-1]["messages"] == [{"role": "user", "content": parts}]
    crisis = chat(proxy, {"messages": [{"role": "user", "content": [{"type": "text", "text": CRISIS}]}]})
    assert crisis.json()["psychosafe"]["action"] == "crisis"
    assert len(control.requests) == 1


def test_a_tool_result_as_the_last_message_passes_through(proxy: Proxy, control: UpstreamControl) -> None:
    messages = [
        {"role": "user", "content": "What time is it in Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"city": "Tokyo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "14:05"},
    ]
    response = chat(proxy, {"model": "psychosafe", "messages": messages})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == control.reply
    assert control.requests[-1]["messages"] == messages  # tool_calls and tool_call_id kept


def test_the_request_id_is_echoed_bounded_or_made_up(proxy: Proxy) -> None:
    assert proxy.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    assert proxy.get("/healthz", headers={"X-Request-ID": "z" * 500}).headers["x-request-id"] == "z" * 64
    made_up = chat(proxy, {"messages": user(CRISIS)})
    assert made_up.headers["x-request-id"].startswith("psy-")
    assert made_up.json()["psychosafe"]["request_id"] == made_up.headers["x-request-id"]


# ---------------------------------------------------------------------------------------------- API keys


def test_api_keys_are_required_except_on_probes(auth_proxy: Proxy, control: UpstreamControl) -> None:
    body = {"messages": user(BENIGN)}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "k1"},
        {"Authorization": "Basic k1"},
    ):
        response = chat(auth_proxy, body, headers=headers)
        assert response.status_code == 401, headers
        error = error_of(response)
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert control.requests == []
    assert chat(auth_proxy, body, headers={"Authorization": "Bearer k1"}).status_code == 200
    assert auth_proxy.get("/v1/models").status_code == 401
    assert auth_proxy.post("/v1/psychosafe/assess", json=body).status_code == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        assert auth_proxy.get(path).status_code == 200, path


def test_the_sdk_sees_a_wrong_key_as_an_authentication_error(auth_proxy: Proxy) -> None:
    with pytest.raises(openai.AuthenticationError):
        auth_proxy.client(api_key="nope").chat.completions.create(model="psychosafe", messages=user(BENIGN))
    completion = auth_proxy.client(api_key="k1").chat.completions.create(
        model="psychosafe", messages=user(CRISIS)
    )
    assert completion.model_extra["psychosafe"]["action"] == "crisis"


# ---------------------------------------------------------------------------------------------- CORS

PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_cors_preflight_allows_the_configured_origin_only(cors_proxy: Proxy) -> None:
    response = httpx.options(cors_proxy.url + "/v1/chat/completions", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    other = httpx.options(
        cors_proxy.url + "/v1/chat/completions", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert other.headers.get("access-control-allow-origin") is None
    response = chat(cors_proxy, {"messages": user(CRISIS)}, headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_cors_preflight_works_when_api_keys_are_required(guard_parts: GuardParts, upstream_url: str) -> None:
    # Browsers send the preflight without credentials, so it must not be refused for lacking a key; and a 401
    # must carry the CORS headers or the page cannot read why it was refused.
    with running_proxy(
        guard_parts.guard(upstream_url),
        None,
        api_keys=[hash_api_key("k1")],
        cors_origins=["https://app.example"],
    ) as both:
        preflight = httpx.options(both.url + "/v1/chat/completions", headers=PREFLIGHT)
        refused = chat(both, {"messages": user(BENIGN)}, headers={"Origin": "https://app.example"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers.get("access-control-allow-origin") == "https://app.example"
    assert refused.status_code == 401
    assert refused.headers.get("access-control-allow-origin") == "https://app.example"


# ---------------------------------------------------------------------------------------------- concurrency


def test_requests_over_max_concurrency_get_429_with_retry_after(
    busy_proxy: Proxy, control: UpstreamControl
) -> None:
    control.delay_s = 0.8  # the first request holds the only slot while the upstream thinks
    first: dict[str, httpx.Response] = {}
    holder = threading.Thread(
        target=lambda: first.setdefault("r", chat(busy_proxy, {"messages": user(BENIGN)}))
    )
    holder.start()
    deadline = time.monotonic() + 5
    while not control.requests and time.monotonic() < deadline:  # the first request has reached the upstream
        time.sleep(0.01)
    assert control.requests, "the first request never reached the upstream"
    second = chat(busy_proxy, {"messages": user(BENIGN)})
    probe = busy_proxy.get("/healthz")
    holder.join(timeout=10)
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    error = error_of(second)
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert probe.status_code == 200  # probes are never turned away
    assert first["r"].status_code == 200
    assert len(control.requests) == 1  # the refused request never reached the upstream
    control.delay_s = 0.0
    assert chat(busy_proxy, {"messages": user(BENIGN)}).status_code == 200  # the slot is free again


def benign_stream(proxy: Proxy) -> Any:
    return httpx.stream("POST", proxy.url + "/v1/chat/completions", timeout=10,
                        json={"messages": user(BENIGN), "stream": True})


def test_an_open_stream_holds_its_slot_until_its_last_byte(
    busy_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply, control.fault, control.chunk_delay_s = "One. Two. Three. Four", "slow_sse", 0.15
    with benign_stream(busy_proxy) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert '"One."' in next(line for line in lines if line.startswith("data:"))
        during = chat(busy_proxy, {"messages": user(CRISIS)})  # the stream is still going
        rest = [line for line in lines if line.startswith("data:")]
    assert during.status_code == 429, "a running stream did not count against max_concurrency"
    assert rest[-1] == "data: [DONE]"
    assert chat(busy_proxy, {"messages": user(CRISIS)}).status_code == 200  # released once it ended


def test_a_stream_the_client_abandons_gives_its_slot_back(
    busy_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply, control.fault, control.chunk_delay_s = "One. Two. Three. Four. Five. Six", "slow_sse", 0.15
    with benign_stream(busy_proxy) as stream:
        next(line for line in stream.iter_lines() if line.startswith("data:"))
    deadline, status = time.monotonic() + 3, 0
    while time.monotonic() < deadline:  # the proxy notices the hang-up at its next write
        status = chat(busy_proxy, {"messages": user(CRISIS)}).status_code
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200, "the abandoned stream kept its concurrency slot"
