"""Settings of `psychosafe serve`: the `server:` section of the YAML file, then PSYCHOSAFE_SERVER_* variables.

The guard's own settings (backend, assessor, country, limits on messages) stay in `GuardConfig`, the `guard:`
section of the same file, so one file configures the whole proxy.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from psychosafe.config import settings_from_file

KEY_HASH_PREFIX = "sha256:"


def hash_api_key(key: str) -> str:
    """What goes in `server.api_keys`: the key itself is never stored."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


class ServerConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PSYCHOSAFE_SERVER_", extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes (the proxy keeps no state)")
    model_name: str = Field("psychosafe", description="the id /v1/models lists for the guard itself")
    api_keys: list[str] = Field(default_factory=list, description="accepted client keys as 'sha256:<hex>' "
                                "(`psychosafe serve --hash-key KEY` prints one); empty = no auth")
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed by CORS; empty = none")
    audit_url: str = Field("sqlite:///psychosafe-audit.db", description="SQLAlchemy URL of the audit store "
                           "(sqlite:///file.db or postgresql+psycopg://user@host/db); 'none' turns audit off")
    audit_text: bool = Field(False, description="store message and reply text in the audit log (hash only when off)")
    audit_text_retention_days: float = Field(30.0, gt=0, description="stored text is erased after this many days")
    max_body_bytes: int = Field(4_000_000, ge=1_000, description="largest request body accepted")
    max_concurrency: int = Field(256, ge=1, description="requests handled at once; more get HTTP 429")
    screen_streams: bool = Field(True, description="check answer streams sentence by sentence and cut over to a "
                                 "supportive refusal when the model goes into harmful specifics")

    @field_validator("api_keys")
    @classmethod
    def _hashed(cls, keys: list[str]) -> list[str]:
        for key in keys:
            digest = key.removeprefix(KEY_HASH_PREFIX)
            if not key.startswith(KEY_HASH_PREFIX) or len(digest) != 64 or any(
                    c not in "0123456789abcdef" for c in digest):
                raise ValueError("api_keys holds hashes, 'sha256:' + 64 hex digits; make one with "
                                 "`psychosafe serve --hash-key KEY`")
        return keys

    @property
    def audit_enabled(self) -> bool:
        return self.audit_url.strip().lower() not in ("", "none", "off")

    def accepts(self, key: str | None) -> bool:
        """True when auth is off or the key's hash is listed (compared in constant time)."""
        if not self.api_keys:
            return True
        if not key:
            return False
        offered = hash_api_key(key)
        return any(hmac.compare_digest(offered, known) for known in self.api_keys)

    @classmethod
    def from_file(cls, path: Path | str | None, **overrides: Any) -> ServerConfig:
        """The `server:` section of a YAML file, then the environment, then explicit arguments."""
        return settings_from_file(cls, path, "server", overrides)
