"""Risk assessment: the embedded model, its cues, and reading across turns.

Assessors are found by spec: `embedded` (the shipped model, the default) or `llm:<backend spec>` (an LLM judges
risk, the embedded assessor supplies context and answers whenever the LLM fails).
"""

from __future__ import annotations

from psychosafe.errors import InputError
from psychosafe.triage.base import Assessor


def create_assessor(spec: str = "embedded", *, timeout: float = 30.0, threshold: float | None = None) -> Assessor:
    """Build the assessor a spec names; `threshold` is the policy's domain threshold (one number for both)."""
    from psychosafe.config import PolicyConfig
    from psychosafe.triage.assessor import EmbeddedAssessor

    threshold = PolicyConfig().domain_threshold if threshold is None else threshold
    if spec == "embedded":
        return EmbeddedAssessor(threshold=threshold)
    if spec.startswith("llm:"):
        from psychosafe.triage.llm import LLMAssessor

        return LLMAssessor(spec.removeprefix("llm:"), timeout=timeout, threshold=threshold,
                           fallback=EmbeddedAssessor(threshold=threshold))
    raise InputError(f"unknown assessor spec {spec!r}; known: embedded, llm:<backend spec>")


__all__ = ["Assessor", "create_assessor"]
