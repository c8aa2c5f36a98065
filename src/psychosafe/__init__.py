"""PsychoSafe: refusals that help.

    from psychosafe import Guard
    result = Guard.default().respond([{"role": "user", "content": "..."}], country="GB")
    result.text, result.decision.action, result.decision.resources
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psychosafe.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InputError,
    InvalidCountryError,
    PsychoSafeError,
)
from psychosafe.types import (
    Action,
    Assessment,
    Check,
    Decision,
    Domain,
    GuardResult,
    Intent,
    Message,
    Resource,
    ResourceSet,
    Role,
    Severity,
    Signal,
    Verification,
)

if TYPE_CHECKING:
    from psychosafe.config import GuardConfig, PolicyConfig
    from psychosafe.guard import Guard

__version__ = "0.1.0"

_LAZY = {"Guard": "psychosafe.guard", "GuardConfig": "psychosafe.config", "PolicyConfig": "psychosafe.config"}


def __getattr__(name: str) -> Any:
    """Guard and its config load the model stack on first use only, so `import psychosafe` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'psychosafe' has no attribute {name!r}")


__all__ = [
    "Action", "Assessment", "BackendError", "BackendTimeout", "BackendUnavailable", "Check", "ConfigError",
    "Decision", "Domain", "Guard", "GuardConfig", "GuardResult", "InputError", "Intent", "InvalidCountryError",
    "Message", "PolicyConfig", "PsychoSafeError", "Resource", "ResourceSet", "Role", "Severity", "Signal",
    "Verification", "__version__",
]
