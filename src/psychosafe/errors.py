"""Errors PsychoSafe raises on purpose: each carries a message a person can act on."""

from __future__ import annotations


class PsychoSafeError(Exception):
    """Base class: anything PsychoSafe raises deliberately."""


class InputError(PsychoSafeError, ValueError):
    """The caller's input cannot be used (empty message, bad role, unreadable file, ...)."""


class LimitError(InputError):
    """Input over a configured size limit; `code` names the limit for machine-readable errors."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


class InvalidCountryError(InputError):
    """A country or locale string that is neither an ISO 3166 code nor a locale such as en-GB."""


class ConfigError(PsychoSafeError):
    """A configuration file or value is invalid."""


class KnowledgeError(PsychoSafeError):
    """A knowledge-base or directory file does not match its schema."""


class UnknownBackendError(InputError):
    """A backend spec string names no registered backend."""


class BackendError(PsychoSafeError):
    """A chat backend failed (connection, HTTP status, malformed reply); `status` is the upstream HTTP status."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class BackendTimeout(BackendError):
    """A chat backend did not answer in time."""


class BackendUnavailable(BackendError):
    """A backend's optional dependency or model file is missing."""
