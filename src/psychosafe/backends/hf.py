"""Hugging Face transformers models from a local folder (optionally a PEFT/LoRA adapter, or a GGUF file).

`hf:/path/to/model` loads a model folder; `hf:/path/to/adapter` (a folder with adapter_config.json) loads its
base model from the path recorded in the adapter, then the adapter; `hf:/path/model.gguf` dequantises a GGUF
file. Nothing is downloaded: the hub is never contacted at run time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from psychosafe.backends.base import Completion, GenerationOptions
from psychosafe.errors import BackendError, BackendTimeout, BackendUnavailable
from psychosafe.types import Message

_LOADED: dict[str, tuple[Any, Any, threading.Lock]] = {}
_LOAD_LOCK = threading.Lock()


def _load(path: Path) -> tuple[Any, Any, threading.Lock]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise BackendUnavailable("transformers and torch are needed: pip install 'psychosafe[ml]'") from exc
    with _LOAD_LOCK:
        if str(path) in _LOADED:
            return _LOADED[str(path)]
        if not path.exists():
            raise BackendUnavailable(f"model path not found: {path}")
        adapter = path / "adapter_config.json"
        if path.suffix == ".gguf":
            kwargs = {"gguf_file": path.name, "local_files_only": True}
            tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=torch.bfloat16, **kwargs)
        elif adapter.exists():
            from peft import PeftModel

            base = Path(json.loads(adapter.read_text())["base_model_name_or_path"])
            base_tokenizer, base_model, _ = _load(base)
            tokenizer, model = base_tokenizer, PeftModel.from_pretrained(base_model, str(path))  # type: ignore[assignment]
        else:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.bfloat16)
        model.eval()
        _LOADED[str(path)] = (tokenizer, model, threading.Lock())
        return _LOADED[str(path)]


class HFBackend:
    def __init__(self, spec: str, path: Path, *, timeout: float = 300.0):
        self.spec = spec
        self.path = path
        self.timeout = timeout
        self.model_name = path.name

    def _inputs(self, tokenizer: Any, messages: Sequence[Message]) -> Any:
        chat = [{"role": "system" if m.role == "developer" else m.role, "content": m.content}
                for m in messages if m.role != "tool"]
        return tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True)

    def _generate_kwargs(self, options: GenerationOptions | None) -> dict:
        options = options or GenerationOptions()
        temperature = 0.7 if options.temperature is None else options.temperature
        kwargs: dict[str, Any] = {"max_new_tokens": options.max_tokens or 256, "do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
            if options.top_p is not None:
                kwargs["top_p"] = options.top_p
        return kwargs

    async def complete(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        def run() -> tuple[str, int, int]:
            import torch

            tokenizer, model, lock = _load(self.path)
            inputs = self._inputs(tokenizer, messages)
            with lock, torch.inference_mode():
                if (options or GenerationOptions()).seed is not None:
                    torch.manual_seed(options.seed)  # type: ignore[union-attr]
                output = model.generate(**inputs, **self._generate_kwargs(options))
            prompt_len = inputs["input_ids"].shape[1]
            new = output[0][prompt_len:]
            return tokenizer.decode(new, skip_special_tokens=True), prompt_len, len(new)

        try:
            text, prompt_tokens, completion_tokens = await asyncio.wait_for(asyncio.to_thread(run), self.timeout)
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendTimeout(f"{self.model_name} did not finish within {self.timeout:g} s") from exc
        except Exception as exc:
            raise BackendError(f"transformers generation failed: {exc}") from exc
        return Completion(text=text.strip(), model=self.model_name,
                          usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens})

    async def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None
                     ) -> AsyncIterator[str]:
        # Generation on CPU is fast enough for this model size that streaming the finished text is honest
        # about latency; the guard holds risky turns back anyway.
        completion = await self.complete(messages, options)
        yield completion.text

    async def aclose(self) -> None:
        return None
