"""Chat backends, found by spec string: a new provider is one module plus one `register` line.

Specs: `composer`, `local` (embedded SmolLM2-135M-Instruct), `openai:MODEL`, `openai:BASE_URL#MODEL`,
`llamacpp:/path/model.gguf`, `hf:/path/to/model-or-adapter`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from psychosafe.backends.base import ChatBackend, Completion, GenerationOptions
from psychosafe.backends.composer import ComposerBackend
from psychosafe.errors import UnknownBackendError

Factory = Callable[[str, str, float], ChatBackend]
_REGISTRY: dict[str, tuple[Factory, str]] = {}


def register(prefix: str, example: str) -> Callable[[Factory], Factory]:
    """Register a factory `(spec, target, timeout) -> backend` for specs starting with `prefix`."""

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[prefix] = (factory, example)
        return factory

    return wrap


@register("composer", "composer")
def _composer(spec: str, target: str, timeout: float) -> ChatBackend:
    return ComposerBackend(country=target or None)


@register("local", "local")
def _local(spec: str, target: str, timeout: float) -> ChatBackend:
    from psychosafe.backends.llamacpp import LlamaCppBackend, local_model_path

    return LlamaCppBackend(spec, local_model_path(), timeout=timeout)


@register("llamacpp", "llamacpp:/models/model.gguf")
def _llamacpp(spec: str, target: str, timeout: float) -> ChatBackend:
    from psychosafe.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(spec, Path(target).expanduser(), timeout=timeout)


@register("hf", "hf:/models/my-model")
def _hf(spec: str, target: str, timeout: float) -> ChatBackend:
    from psychosafe.backends.hf import HFBackend

    return HFBackend(spec, Path(target).expanduser(), timeout=timeout)


@register("openai", "openai:gpt-4o-mini  or  openai:http://127.0.0.1:8000/v1#MODEL")
def _openai(spec: str, target: str, timeout: float) -> ChatBackend:
    from psychosafe.backends.openai_compat import OpenAICompatibleBackend, parse_openai_spec

    base_url, model = parse_openai_spec(target)
    return OpenAICompatibleBackend(spec, base_url, model, timeout=timeout)


def check_spec(spec: str) -> str:
    """The spec's registry prefix; raises UnknownBackendError listing the known forms (loads nothing)."""
    prefix = spec.strip().partition(":")[0]
    if prefix not in _REGISTRY:
        known = ", ".join(example for _, example in _REGISTRY.values())
        raise UnknownBackendError(f"unknown backend spec {spec!r}; known forms: {known}")
    return prefix


def create_backend(spec: str, *, timeout: float = 60.0) -> ChatBackend:
    """Build the backend a spec names; raises UnknownBackendError listing the known forms."""
    factory, _ = _REGISTRY[check_spec(spec)]
    return factory(spec.strip(), spec.strip().partition(":")[2].strip(), timeout)


def backend_examples() -> list[str]:
    return [example for _, example in _REGISTRY.values()]


__all__ = [
    "ChatBackend",
    "Completion",
    "ComposerBackend",
    "GenerationOptions",
    "backend_examples",
    "create_backend",
    "register",
]
