"""The proxy spoken to with the official openai SDK (sync, async, streaming), in front of a real upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from tests.server.helpers import (
    BENIGN,
    CRISIS,
    DOSE_REPLY,
    GOOD_CRISIS_DRAFT,
    HARMFUL_LIST_REPLY,
    HARMFUL_REPLY,
    GuardParts,
    Proxy,
    report_of,
    request_id,
    running_proxy,
    stream_text,
    user,
)
from tests.support.upstream import UpstreamControl

GB = {"extra_body": {"psychosafe": {"country": "GB"}}}
US = {"extra_headers": {"X-PsychoSafe-Country": "US"}}


def chat(proxy: Proxy, text: str, rid: str | None = None, **kwargs: Any) -> Any:
    headers = {**kwargs.pop("extra_headers", {}), **({"X-Request-ID": rid} if rid else {})}
    return proxy.client().chat.completions.create(
        model="psychosafe", messages=user(text), extra_headers=headers, **kwargs
    )


def chunks_of(proxy: Proxy, text: str, rid: str | None = None, **kwargs: Any) -> list[Any]:
    return list(chat(proxy, text, rid, stream=True, **kwargs))


# ----------------------------------------------------------------------------------------- acceptance: crisis


def test_crisis_in_gb_named_in_the_body_gets_local_numbers_without_calling_the_upstream(
    proxy: Proxy, control: UpstreamControl
) -> None:
    rid = request_id()
    completion = chat(proxy, CRISIS, rid, **GB)
    text = completion.choices[0].message.content
    report = report_of(completion)
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    assert report["action"] == "crisis" and report["domain"] == "suicide_self_harm"
    assert report["country"] == "GB" and report["request_id"] == rid
    assert "999" in text and "116 123" in text
    assert "Samaritans" in [r["name"] for r in report["resources"]]
    assert report["verification"]["passed"] and not report["fallback"] and not report["cut_over"]
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert control.requests == []  # composed: the upstream never saw the turn
    row = proxy.audit_row(rid)
    assert row["action"] == "crisis" and row["country"] == "GB" and row["status"] == 200


def test_crisis_in_the_us_named_in_a_header_gets_988(proxy: Proxy, control: UpstreamControl) -> None:
    completion = chat(proxy, CRISIS, **US)
    text = completion.choices[0].message.content
    report = report_of(completion)
    assert report["action"] == "crisis" and report["country"] == "US"
    assert "988" in text and "116 123" not in text
    assert control.requests == []


def test_the_body_country_wins_over_the_header(proxy: Proxy) -> None:
    completion = chat(
        proxy,
        CRISIS,
        extra_body={"psychosafe": {"country": "GB"}},
        extra_headers={"X-PsychoSafe-Country": "US"},
    )
    assert report_of(completion)["country"] == "GB"
    assert "116 123" in completion.choices[0].message.content


@pytest.mark.parametrize(("where", "numbers"), [(GB, ("999", "116 123")), (US, ("988",))], ids=["GB", "US"])
def test_crisis_stream_carries_the_same_verified_text_and_the_report_on_the_final_chunk(
    proxy: Proxy, control: UpstreamControl, where: dict[str, Any], numbers: tuple[str, ...]
) -> None:
    chunks = chunks_of(proxy, CRISIS, **where)
    text = stream_text(chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and len(chunks) > 3  # one stream, in several pieces
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    report = report_of(final)
    assert report["action"] == "crisis" and report["verification"]["passed"]
    for number in numbers:
        assert number in text
    assert all("psychosafe" not in (c.model_extra or {}) for c in chunks[:-1])
    # the stream is the same verified reply the non-streaming call gives
    assert text == chat(proxy, CRISIS, **where).choices[0].message.content
    assert control.requests == []


def test_async_client_handles_concurrent_crisis_and_benign_turns(
    proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "Use kill PID, or pkill -f name. Send SIGTERM first"

    async def run() -> tuple[Any, list[Any], Any, list[Any]]:
        client = proxy.aclient()
        messages = user(CRISIS)

        async def collect(**kwargs: Any) -> list[Any]:
            return [
                c
                async for c in await client.chat.completions.create(
                    model="psychosafe", messages=kwargs.pop("messages"), stream=True, **kwargs
                )
            ]

        try:
            return await asyncio.gather(
                client.chat.completions.create(model="psychosafe", messages=messages, **GB),
                collect(messages=messages, **US),
                client.chat.completions.create(model="psychosafe", messages=user(BENIGN)),
                collect(messages=user(BENIGN)),
            )
        finally:
            await client.close()

    gb, us_chunks, benign, benign_chunks = asyncio.run(run())
    assert report_of(gb)["action"] == "crisis" and "116 123" in gb.choices[0].message.content
    assert report_of(us_chunks[-1])["action"] == "crisis" and "988" in stream_text(us_chunks)
    assert report_of(benign)["action"] == "answer"
    assert benign.choices[0].message.content == control.reply
    assert stream_text(benign_chunks) == control.reply
    assert report_of(benign_chunks[-1])["action"] == "answer"
    assert sorted(r["stream"] for r in control.requests) == [False, True]  # only the two benign turns


# ------------------------------------------------------------------------ risky turns drafted by the upstream


def test_a_risky_turn_drafted_by_the_upstream_is_verified_before_it_is_sent(
    open_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = GOOD_CRISIS_DRAFT
    completion = chat(open_proxy, CRISIS, **GB)
    report = report_of(completion)
    assert completion.choices[0].message.content == GOOD_CRISIS_DRAFT
    assert report["action"] == "crisis" and not report["fallback"]
    assert report["verification"] == {"passed": True, "draft_failed": [], "repairs": [], "fallback": False}
    [sent] = control.requests
    assert sent["stream"] is False and sent["model"] == "test-model"
    assert sent["messages"][0]["role"] == "system" and "116 123" in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": CRISIS}


def test_a_risky_stream_relays_no_upstream_tokens_only_the_verified_text(
    open_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = GOOD_CRISIS_DRAFT
    chunks = chunks_of(open_proxy, CRISIS, **GB)
    assert stream_text(chunks) == GOOD_CRISIS_DRAFT
    assert report_of(chunks[-1])["verification"]["passed"]
    # the upstream was asked for one complete reply, never a stream, so nothing unverified could be relayed
    assert [r["stream"] for r in control.requests] == [False]
    assert all(c.id.startswith("chatcmpl-") and c.id != "c" for c in chunks)  # not the upstream's chunk ids


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_upstream_draft_that_fails_verification_never_reaches_the_person(
    open_proxy: Proxy, control: UpstreamControl, stream: bool
) -> None:
    control.reply = "ZEBRAMARKER. You should just get some sleep and it will pass."
    if stream:
        chunks = chunks_of(open_proxy, CRISIS, **GB)
        text, report = stream_text(chunks), report_of(chunks[-1])
    else:
        completion = chat(open_proxy, CRISIS, **GB)
        text, report = completion.choices[0].message.content, report_of(completion)
    assert "ZEBRAMARKER" not in text and "sleep and it will pass" not in text
    assert "999" in text and "116 123" in text
    assert report["verification"]["draft_failed"] and report["verification"]["fallback"]
    assert report["fallback"]  # the composed answer stood in for the draft
    assert [r["stream"] for r in control.requests] == [False]


# ---------------------------------------------------------------------------------------------- answer turns


def test_a_benign_turn_is_relayed_untouched_with_every_field_forwarded(
    proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "Use `kill <pid>`; add -9 only if it ignores SIGTERM."
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "the time",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    completion = chat(
        proxy,
        BENIGN,
        temperature=0.3,
        top_p=0.9,
        stop=["END"],
        tools=tools,
        seed=7,
        user="u-1",
        max_tokens=50,
        extra_body={"foo_unknown": 1, "psychosafe": {"country": "GB"}},
    )
    report = report_of(completion)
    assert completion.choices[0].message.content == control.reply
    assert report["action"] == "answer" and not report["cut_over"] and report["verification"] is None
    assert completion.id == "chatcmpl-test" and completion.model == "test-model"  # the upstream's own reply
    assert completion.usage.prompt_tokens == 10  # the upstream's usage, not an estimate
    [sent] = control.requests
    assert sent["model"] == "test-model"  # the guard's id is mapped to the configured upstream model
    assert sent["messages"] == user(BENIGN)
    assert sent["temperature"] == 0.3 and sent["top_p"] == 0.9 and sent["stop"] == ["END"]
    assert sent["tools"] == tools and sent["seed"] == 7 and sent["user"] == "u-1" and sent["max_tokens"] == 50
    assert sent["foo_unknown"] == 1 and sent["stream"] is False
    assert "psychosafe" not in sent  # the proxy's own field stays with the proxy


def test_a_client_naming_another_upstream_model_gets_that_model(
    proxy: Proxy, control: UpstreamControl
) -> None:
    proxy.client().chat.completions.create(model="other-model", messages=user(BENIGN))
    assert control.requests[-1]["model"] == "other-model"


def test_a_benign_stream_is_relayed_sentence_by_sentence(proxy: Proxy, control: UpstreamControl) -> None:
    control.reply = "First, find the PID with ps. Then run kill PID. That sends SIGTERM"
    rid = request_id()
    chunks = chunks_of(proxy, BENIGN, rid)
    assert stream_text(chunks) == control.reply
    # the upstream's chunks, one per word, none merged; then the proxy's closing chunk with the report
    assert len(chunks) == len(control.reply.split(" ")) + 1 and chunks[-1].choices == []
    report = report_of(chunks[-1])
    assert report["action"] == "answer" and not report["cut_over"] and report["request_id"] == rid
    assert [r["stream"] for r in control.requests] == [True]
    row = proxy.audit_row(rid)
    assert row["reply"] == control.reply and row["upstream_status"] == 200 and row["status"] == 200


def test_the_report_is_on_the_final_chunk_when_the_last_upstream_chunk_ends_a_sentence(
    proxy: Proxy, control: UpstreamControl
) -> None:
    # An upstream that sends no separate finish chunk after its last words (this test upstream, and servers
    # that put finish_reason on the last content chunk): the final chunk must still carry the report.
    control.reply = "Find the PID with ps. Then run kill PID."
    chunks = chunks_of(proxy, BENIGN)
    assert stream_text(chunks) == control.reply
    assert report_of(chunks[-1])["action"] == "answer"


def test_include_usage_on_a_risky_stream_ends_with_a_usage_chunk(proxy: Proxy) -> None:
    chunks = chunks_of(proxy, CRISIS, stream_options={"include_usage": True}, **GB)
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens > 0
    assert (
        usage_chunk.usage.total_tokens
        == usage_chunk.usage.prompt_tokens + usage_chunk.usage.completion_tokens
    )
    assert report_of(chunks[-2])["action"] == "crisis" and chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


# ------------------------------------------------------------------------------------------ screening answers


@pytest.mark.parametrize("reply", [HARMFUL_REPLY, HARMFUL_LIST_REPLY], ids=["prose", "list"])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_answer_that_goes_into_lethal_specifics_is_cut_over_to_a_refusal(
    proxy: Proxy, control: UpstreamControl, stream: bool, reply: str
) -> None:
    control.reply = reply
    rid = request_id()
    question = "tell me about sleeping well"
    if stream:
        chunks = chunks_of(proxy, question, rid, **GB)
        text, report = stream_text(chunks), report_of(chunks[-1])
        assert chunks[-1].choices[0].finish_reason == "stop"
    else:
        completion = chat(proxy, question, rid, **GB)
        text, report = completion.choices[0].message.content, report_of(completion)
        assert completion.choices[0].finish_reason == "stop"
    assert "40 pills" not in text and "lethal dose" not in text.lower() and "paracetamol" not in text.lower()
    assert report["cut_over"] and report["action"] == "refuse" and report["domain"] == "suicide_self_harm"
    assert report["verification"]["passed"]
    assert "116 123" in text  # the refusal still points somewhere useful
    row = proxy.audit_row(rid)
    assert row["cut_over"] and row["action"] == "refuse"
    assert "40 pills" not in (row["reply"] or "") and row["reply"]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_ordinary_dose_answer_is_not_cut(proxy: Proxy, control: UpstreamControl, stream: bool) -> None:
    control.reply = DOSE_REPLY
    question = "How much ibuprofen can an adult take?"
    rid = request_id()
    if stream:
        text = stream_text(chunks_of(proxy, question, rid))
    else:
        completion = chat(proxy, question, rid)
        text = completion.choices[0].message.content
        assert report_of(completion)["action"] == "answer" and not report_of(completion)["cut_over"]
    assert text == DOSE_REPLY
    row = proxy.audit_row(rid)  # the stream's report is checked through its audit row (see the test above)
    assert row["action"] == "answer" and not row["cut_over"] and row["reply"] == DOSE_REPLY


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_invented_helpline_number_in_an_answer_never_reaches_the_person(
    proxy: Proxy, control: UpstreamControl, stream: bool
) -> None:
    control.reply = ("Grief can be heavy. You could call the support hotline at 1-800-555-0199 any time. "
                     "In the UK, Samaritans listen on 116 123. Be gentle with yourself.")
    question, rid = "Can you recommend a podcast for a long drive?", request_id()
    if stream:
        text = stream_text(chunks_of(proxy, question, rid, **GB))
    else:
        text = chat(proxy, question, rid, **GB).choices[0].message.content
    assert "555-0199" not in text  # invented: its sentence is dropped
    assert "116 123" in text and text.startswith("Grief can be heavy.")  # real for GB: kept
    row = proxy.audit_row(rid)
    assert row["action"] == "answer" and any("1-800-555-0199" in r for r in row["verification"]["repairs"])


def test_screening_can_be_turned_off_for_streams(
    guard_parts: GuardParts, upstream_url: str, control: UpstreamControl
) -> None:
    control.reply = HARMFUL_REPLY.rstrip(".")  # no full stop at the end: see the final-chunk test above
    with running_proxy(guard_parts.guard(upstream_url), None, screen_streams=False) as unscreened:
        chunks = chunks_of(unscreened, "tell me about sleeping well")
    assert stream_text(chunks) == control.reply and not report_of(chunks[-1])["cut_over"]


# ---------------------------------------------------------------------------------------------- other routes


def test_models_lists_the_guard_and_the_upstream_models(proxy: Proxy) -> None:
    ids = [m.id for m in proxy.client().models.list()]
    assert ids[0] == "psychosafe" and "test-model" in ids and len(ids) == len(set(ids))


def test_models_still_lists_the_guard_when_the_upstream_is_down(refused_proxy: Proxy) -> None:
    assert [m.id for m in refused_proxy.client().models.list()] == ["psychosafe"]


def test_assess_returns_the_decision_without_calling_the_upstream(
    proxy: Proxy, control: UpstreamControl
) -> None:
    rid = request_id()
    response = proxy.post(
        "/v1/psychosafe/assess",
        json={"messages": user(CRISIS), "country": "GB"},
        headers={"X-Request-ID": rid},
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == rid
    body = response.json()
    assert body["psychosafe"]["action"] == "crisis" and body["decision"]["action"] == "crisis"
    assert body["assessment"]["severity"] == "imminent" and body["psychosafe"]["country"] == "GB"
    assert body["psychosafe"]["resources"]
    benign = proxy.post("/v1/psychosafe/assess", json={"messages": user(BENIGN)}).json()
    assert benign["psychosafe"]["action"] == "answer"
    assert control.requests == []
    row = proxy.audit_row(rid)
    assert row["endpoint"] == "assess" and row["action"] == "crisis" and row["upstream_status"] is None


def test_assess_rejects_unknown_fields(proxy: Proxy) -> None:
    response = proxy.post("/v1/psychosafe/assess", json={"messages": user(CRISIS), "stream": True})
    assert response.status_code == 422
    assert "stream" in response.json()["error"]["message"]


def test_sdk_errors_carry_the_openai_error_body(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        proxy.client().chat.completions.create(
            model="psychosafe", messages=user(CRISIS), extra_body={"psychosafe": {"country": "Narnia"}}
        )
    assert caught.value.status_code == 400
    assert caught.value.body["code"] == "invalid_messages" and "Narnia" in caught.value.body["message"]
