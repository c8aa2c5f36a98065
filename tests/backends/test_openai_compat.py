import asyncio

import pytest

from psychosafe.backends import GenerationOptions, create_backend
from psychosafe.errors import BackendError, BackendTimeout, ConfigError, UnknownBackendError
from psychosafe.types import Message

HELLO = [Message(role="user", content="hello")]


def run(coro):
    return asyncio.run(coro)


def backend_for(server, timeout=5.0):
    return create_backend(f"openai:{server.url}/v1#test-model", timeout=timeout)


def test_complete_against_a_real_server(upstream) -> None:
    server, control = upstream
    control.reply = "Plain answer."
    completion = run(backend_for(server).complete(HELLO, GenerationOptions(max_tokens=20, temperature=0.1,
                                                                            extra={"user": "u1"})))
    assert completion.text == "Plain answer."
    sent = control.requests[-1]
    assert sent["model"] == "test-model" and sent["max_tokens"] == 20 and sent["user"] == "u1"
    assert sent["messages"] == [{"role": "user", "content": "hello"}]


def test_stream_yields_the_pieces_in_order(upstream) -> None:
    server, control = upstream
    control.reply = "one two three"

    async def collect():
        return [p async for p in backend_for(server).stream(HELLO)]

    assert "".join(run(collect())) == "one two three"


def test_consecutive_streams_share_one_connection(upstream) -> None:
    """A stream read to [DONE] hands its connection back: the next turn does not pay for a new TCP connection."""
    server, control = upstream
    control.reply = "one two three"
    backend = backend_for(server)

    async def three_streams():
        texts = ["".join([p async for p in backend.stream(HELLO)]) for _ in range(3)]
        await backend.aclose()
        return texts

    control.client_ports.clear()
    assert run(three_streams()) == ["one two three"] * 3
    assert len(control.client_ports) == 3 and len(set(control.client_ports)) == 1


@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_429", 429), ("malformed_json", 502),
                                               ("missing_choices", 502)])
def test_upstream_faults_become_backend_errors(upstream, fault: str, status: int) -> None:
    server, control = upstream
    control.fault = fault
    with pytest.raises(BackendError) as info:
        run(backend_for(server).complete(HELLO))
    assert info.value.status == status


@pytest.mark.parametrize("fault", ["broken_sse", "bad_sse_event"])
def test_broken_streams_raise(upstream, fault: str) -> None:
    server, control = upstream
    control.fault, control.reply = fault, "one two three"

    async def collect():
        return [p async for p in backend_for(server).stream(HELLO)]

    with pytest.raises(BackendError):
        run(collect())


def test_timeout_is_reported_as_such(upstream) -> None:
    server, control = upstream
    control.delay_s = 2.0
    with pytest.raises(BackendTimeout):
        run(backend_for(server, timeout=0.3).complete(HELLO))


def test_connection_refused_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="could not reach"):
        run(create_backend("openai:http://127.0.0.1:9/v1#m", timeout=2).complete(HELLO))


def test_spec_errors_are_clear(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("PSYCHOSAFE_UPSTREAM_API_KEY", raising=False)
    with pytest.raises(UnknownBackendError, match="known forms"):
        create_backend("gemini:pro")
    with pytest.raises(ConfigError, match="names no model"):
        create_backend("openai:http://127.0.0.1:8000/v1")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_backend("openai:gpt-4o-mini")
