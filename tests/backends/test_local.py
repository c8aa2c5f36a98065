"""The embedded generator, for real: SmolLM2-135M-Instruct on llama.cpp."""

import asyncio

import pytest

from psychosafe.backends import GenerationOptions, create_backend
from psychosafe.backends.llamacpp import LlamaCppBackend
from psychosafe.errors import BackendUnavailable
from psychosafe.types import Message

pytest.importorskip("llama_cpp", reason="the 'local' extra is not installed")
pytestmark = pytest.mark.local_model


def test_local_model_answers_briefly() -> None:
    backend = create_backend("local")
    completion = asyncio.run(backend.complete([Message(role="user", content="Say hello in one word.")],
                                              GenerationOptions(max_tokens=16, temperature=0, seed=1)))
    assert completion.text.strip()
    assert completion.usage["completion_tokens"] <= 16


def test_local_model_streams() -> None:
    backend = create_backend("local")

    async def collect():
        return [p async for p in backend.stream([Message(role="user", content="Count to three.")],
                                                GenerationOptions(max_tokens=12, temperature=0))]

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and "".join(pieces).strip()


def test_a_long_conversation_is_trimmed_to_the_context_window() -> None:
    backend = create_backend("local")
    long_history = [Message(role="user" if i % 2 == 0 else "assistant", content="word " * 400) for i in range(40)]
    long_history.append(Message(role="user", content="Reply with OK."))
    completion = asyncio.run(backend.complete(long_history, GenerationOptions(max_tokens=8, temperature=0)))
    assert isinstance(completion.text, str)


def test_a_missing_model_file_is_reported(tmp_path) -> None:
    backend = LlamaCppBackend("llamacpp:x", tmp_path / "missing.gguf")
    with pytest.raises(BackendUnavailable, match="not found"):
        asyncio.run(backend.complete([Message(role="user", content="hi")]))
