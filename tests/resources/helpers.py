"""Small valid directory files to break on purpose."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ALL_DOMAINS = ["suicide_self_harm", "substance_use", "violence", "weapons", "sexual_harm"]
ALL_ROLES = ["self", "victim", "others", "third_party"]


def service(code: str, slug: str, **changes: Any) -> dict[str, Any]:
    entry = {
        "id": f"{code.lower()}-{slug}",
        "name": f"{slug} line",
        "kind": "crisis_line",
        "contacts": [{"kind": "phone", "value": "0800 123 456"}],
        "hours": "24/7",
        "domains": ["suicide_self_harm"],
        "roles": ["self", "victim", "others", "third_party"],
        "description": "Someone to talk to, any time.",
        "source": "https://example.org",
        "verified": "2026-11-23",
        "confidence": "confirmed",
    }
    entry.update(changes)
    return entry


def emergency(code: str, contacts: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return service(
        code, "emergency", kind="emergency", name="Emergency services", domains=ALL_DOMAINS, roles=ALL_ROLES,
        contacts=[{"kind": "phone", "value": "112"}] if contacts is None else contacts,
    )


def country_file(code: str = "PL", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "country": code,
        "name": "Testland",
        "calling_code": "48",
        "trunk_prefix": None,
        "checked_against": "test data",
        "services": [emergency(code), service(code, "line")],
        "stale": [],
    }
    data.update(changes)
    return data


def intl_file() -> dict[str, Any]:
    return country_file(
        "INTL",
        calling_code=None,
        services=[
            emergency("INTL", contacts=[]),
            service("INTL", "directory", kind="directory", contacts=[{"kind": "url", "value": "https://x.org"}]),
        ],
    )


def write(folder: Path, *files: dict[str, Any]) -> Path:
    for data in files:
        (folder / f"{data['country']}.yaml").write_text(yaml.safe_dump(copy.deepcopy(data), allow_unicode=True))
    return folder
