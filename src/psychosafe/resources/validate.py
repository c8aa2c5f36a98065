"""Checks a directory must pass before it ships (`psychosafe knowledge check`).

The schema catches malformed files; these checks catch what a schema cannot: an id used twice, a stale number
listed as current, a country without an emergency entry, a number the contact checker would not recognise,
an entry without provenance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from psychosafe.errors import KnowledgeError
from psychosafe.resources.checking import Holdings
from psychosafe.resources.contacts import find_contacts
from psychosafe.resources.directory import DATA_DIR, Directory
from psychosafe.resources.phones import DialPlan, normalize_number
from psychosafe.resources.schema import INTL, CountryFile, read_country_file
from psychosafe.types import ContactKind, Domain, Resource, Role, ServiceKind

#: Where the fact sheet names no source address, `source` points at the sheet's section instead.
SHEET_SOURCE_PREFIX = "fact-sheet:helplines.md#"


def validate_directory(directory: Directory | Path | None = None) -> list[str]:
    """Every problem found, one line each ("GB.yaml: gb-frank: ..."); an empty list means the directory is sound.

    Given a folder (default: the shipped data), every file is read on its own, so schema errors in several
    files (an unknown domain or role, a missing `source` or `verified`) are all reported.
    """
    problems: list[str]
    if isinstance(directory, Directory):
        files, problems = dict(directory.files), []
    else:
        files, problems = _read_all(directory or DATA_DIR)
    if INTL not in files:
        problems.append("INTL.yaml: missing; the international fallback is required")
    problems += _duplicate_ids(files.values())
    for file in files.values():
        problems += _check_file(file)
    return problems


def _read_all(folder: Path) -> tuple[dict[str, CountryFile], list[str]]:
    files: dict[str, CountryFile] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            file = read_country_file(path)
        except KnowledgeError as exc:
            problems.append(str(exc))
        else:
            files[file.country] = file
    return files, problems


def _duplicate_ids(files: Iterable[CountryFile]) -> list[str]:
    counts = Counter(s.id for file in files for s in file.services)
    return [f"id {service_id!r} is used {n} times" for service_id, n in sorted(counts.items()) if n > 1]


def _check_file(file: CountryFile) -> list[str]:
    name = f"{file.country}.yaml"
    problems: list[str] = []
    if file.country != INTL and file.calling_code is None:
        problems.append(f"{name}: calling_code: required for a country")
    emergencies = file.emergency_entries
    if len(emergencies) != 1:
        problems.append(f"{name}: has {len(emergencies)} emergency entries, needs exactly one")
    plan = DialPlan(file.calling_code, file.trunk_prefix)
    for service in file.services:
        problems += [f"{name}: {service.id}: {p}" for p in _check_service(service, file.country, plan)]
    problems += [f"{name}: {p}" for p in _check_stale(file, plan)]
    return problems


def _check_service(service: Resource, country: str, plan: DialPlan) -> list[str]:
    problems: list[str] = []
    if not service.id.startswith(country.lower() + "-"):
        problems.append(f"id should start with {country.lower()}-")
    if not _is_source(service.source):
        problems.append(f"source: {service.source!r} is neither an https URL nor {SHEET_SOURCE_PREFIX}<section>")
    for field in ("name", "hours", "description"):
        if not getattr(service, field).strip():
            problems.append(f"{field}: empty")
    if not service.domains or not service.roles:
        problems.append("domains and roles: both need at least one value")
    if len(set(service.domains)) != len(service.domains) or len(set(service.roles)) != len(service.roles):
        problems.append("domains or roles: listed twice")
    if service.kind is ServiceKind.EMERGENCY:
        if set(service.domains) != set(Domain) or set(service.roles) != set(Role):
            problems.append("an emergency entry serves every domain and every role")
    elif not service.contacts:
        problems.append("contacts: only an emergency entry may have none")
    if country == INTL and any(c.kind in (ContactKind.PHONE, ContactKind.TEXT) for c in service.contacts):
        problems.append("the international file holds no numbers: they would be accepted in every country")
    for contact in service.contacts:
        problems += [f"contact {contact.value!r}: {p}" for p in _check_contact(contact.kind, contact.value)]
    return problems


def _check_contact(kind: ContactKind, value: str) -> list[str]:
    """A contact must be one the contact checker finds, in the form it is stored."""
    if kind in (ContactKind.PHONE, ContactKind.TEXT):
        verb = "text" if kind is ContactKind.TEXT else "call"
        found = find_contacts(f"{verb} {value} now")
        if [f.normalized for f in found] != [normalize_number(value)]:
            return ["the contact checker does not read it as one number"]
        return []
    if kind is ContactKind.EMAIL:
        found = find_contacts(f"email {value} now")
        return [] if [f.raw for f in found] == [value] else ["not a plain email address"]
    parts = urlsplit(value)
    return [] if parts.scheme == "https" and "." in parts.netloc else ["not an https URL"]


def _check_stale(file: CountryFile, plan: DialPlan) -> list[str]:
    holdings = Holdings(file.country, plan, file.services, [])
    problems = []
    for entry in file.stale:
        current = find_contacts(f"call {entry.number} now")
        if any(holdings.holds(f) for f in current):
            problems.append(f"stale number {entry.number} is also listed as a current contact")
        replacement = find_contacts(f"call {entry.replaced_by} now")
        if not replacement or not all(holdings.holds(f) for f in replacement):
            problems.append(f"stale number {entry.number}: its replacement {entry.replaced_by} is not listed")
    return problems


def _is_source(source: str) -> bool:
    if source.startswith(SHEET_SOURCE_PREFIX):
        return len(source) > len(SHEET_SOURCE_PREFIX)
    parts = urlsplit(source)
    return parts.scheme == "https" and "." in parts.netloc
