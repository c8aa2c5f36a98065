"""The shape of one directory file (`data/GB.yaml`, ..., `data/INTL.yaml`) and how it is read.

A file is a header (country, calling code, trunk prefix, provenance), its services as `Resource`s and the
numbers known to be stale. Reading fails loudly, naming the file and the field, because a directory that loads
half-right could show a wrong number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from psychosafe.errors import KnowledgeError
from psychosafe.types import Resource, ServiceKind

INTL = "INTL"


class StaleNumber(BaseModel):
    """A number that must not be shown any more, and what replaced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(min_length=1)
    replaced_by: str = Field(min_length=1)
    note: str = Field(min_length=1)


class CountryFile(BaseModel):
    """One country's services (or the international fallback, country "INTL")."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(pattern=r"^([A-Z]{2}|INTL)$")
    name: str = Field(min_length=1)
    calling_code: str | None = Field(pattern=r"^\d{1,3}$")  # "44"; None for INTL
    trunk_prefix: str | None = Field(pattern=r"^\d{1,2}$")  # "0" in GB, "1" in the US, None in Spain
    checked_against: str = Field(min_length=1)
    services: list[Resource]
    stale: list[StaleNumber] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _country_from_header(cls, data: Any) -> Any:
        """Services take their country from the header, so a file cannot mix countries."""
        if not isinstance(data, dict) or not isinstance(data.get("services"), list):
            return data
        services = []
        for index, service in enumerate(data["services"]):
            if isinstance(service, dict):
                if "country" in service:
                    raise ValueError(f"services[{index}].country: leave it out, the header sets it")
                service = {**service, "country": data.get("country")}
            services.append(service)
        return {**data, "services": services}

    @property
    def emergency_entries(self) -> list[Resource]:
        return [s for s in self.services if s.kind is ServiceKind.EMERGENCY]


def read_country_file(path: Path) -> CountryFile:
    """Parse and check one file; KnowledgeError names the file and the field that is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(f"{path.name}: expected a mapping with country, name, ..., services")
    try:
        parsed = CountryFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_field(err["loc"], data) + err["msg"] for err in exc.errors())
        raise KnowledgeError(f"{path.name}: {problems}") from exc
    if parsed.country != path.stem:
        raise KnowledgeError(f"{path.name}: country: is {parsed.country!r}, the file name says {path.stem!r}")
    return parsed


def _field(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """The field as a reader finds it, with the entry's id: "services[3] (gb-frank).contacts[0].kind: "."""
    if not loc:
        return ""
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc]
    if loc[0] == "services" and len(loc) > 1 and isinstance(loc[1], int):
        services = data.get("services")
        entry = services[loc[1]] if isinstance(services, list) and loc[1] < len(services) else None
        if isinstance(entry, dict) and entry.get("id"):
            parts[1] += f" ({entry['id']})"
    return "".join(parts).lstrip(".") + ": "
