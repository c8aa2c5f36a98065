"""Risk assessment: the embedded model, its cues, and reading across turns.

Assessors are found by spec: `embedded` (the shipped model, the default).
"""

from __future__ import annotations

from psychosafe.errors import InputError
from psychosafe.triage.base import Assessor


def create_assessor(spec: str = "embedded", *, timeout: float = 30.0) -> Assessor:
    """Build the assessor a spec names."""
    if spec == "embedded":
        from psychosafe.triage.assessor import EmbeddedAssessor

        return EmbeddedAssessor()
    raise InputError(f"unknown assessor spec {spec!r}; known: embedded")


__all__ = ["Assessor", "create_assessor"]
