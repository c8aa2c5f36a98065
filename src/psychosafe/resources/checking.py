"""Check the contacts in a text against what the directory holds for one country.

Every finding ends up in exactly one place: held (fine), `stale` (a number the country replaced; the replacement
is given so a repair can swap it) or `unknown` (invented, mistyped, or another country's). A country's own
entries and the international file's entries are held; nothing else is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pydantic import BaseModel, ConfigDict, computed_field

from psychosafe.resources.contacts import ContactFinding, find_contacts, url_host
from psychosafe.resources.phones import DialPlan, normalize_number
from psychosafe.resources.schema import StaleNumber
from psychosafe.types import ContactKind, Resource

#: A held number must be at least this long to match as the start of a keypad word ("1800RESPECT").
_MIN_VANITY_PREFIX = 7
_NUMBER_KINDS = (ContactKind.PHONE, ContactKind.TEXT)


class StaleFinding(BaseModel):
    """A contact in the text that the country replaced."""

    model_config = ConfigDict(frozen=True)

    finding: ContactFinding
    number: str  # the stale number as the directory lists it
    replaced_by: str
    note: str


class ContactCheck(BaseModel):
    """The outcome of checking one text for one country."""

    model_config = ConfigDict(frozen=True)

    country: str  # the directory file checked against: "GB", or "INTL" for the fallback
    findings: list[ContactFinding]
    unknown: list[ContactFinding]
    stale: list[StaleFinding]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.unknown and not self.stale


class Holdings:
    """The numbers, hosts and emails one country may show, and its stale numbers, as lookup tables."""

    def __init__(
        self, country: str, plan: DialPlan, resources: Iterable[Resource], stale: Iterable[StaleNumber]
    ) -> None:
        self.country = country
        self.plan = plan
        self.numbers: set[str] = set()
        self.hosts: set[str] = set()
        self.emails: set[str] = set()
        for resource in resources:
            for contact in resource.contacts:
                if contact.kind in _NUMBER_KINDS:
                    self.numbers |= plan.keys(normalize_number(contact.value))
                elif contact.kind is ContactKind.EMAIL:
                    self.emails.add(contact.value.lower())
                else:
                    self.hosts.add(url_host(contact.value))
        self.stale: dict[str, StaleNumber] = {
            key: entry for entry in stale for key in plan.keys(normalize_number(entry.number))
        }

    def holds(self, finding: ContactFinding) -> bool:
        if finding.kind is ContactKind.EMAIL:
            return finding.normalized in self.emails
        if finding.kind is ContactKind.URL:
            host = finding.normalized
            return any(host == held or host.endswith("." + held) for held in self.hosts)
        return self._match(finding, self.numbers) is not None

    def replaced(self, finding: ContactFinding) -> StaleNumber | None:
        if finding.kind not in _NUMBER_KINDS:
            return None
        key = self._match(finding, self.stale)
        return self.stale[key] if key is not None else None

    def _match(self, finding: ContactFinding, held: Collection[str]) -> str | None:
        """The held key `finding` matches, if any; keypad words may spell more digits than the number has."""
        keys = self.plan.keys(finding.normalized)
        for key in keys:
            if key in held:
                return key
        if finding.vanity:
            for number in held:
                if len(number) >= _MIN_VANITY_PREFIX and any(key.startswith(number) for key in keys):
                    return number
        return None

    def check(self, text: str) -> ContactCheck:
        findings = find_contacts(text)
        unknown: list[ContactFinding] = []
        stale: list[StaleFinding] = []
        for finding in findings:
            if self.holds(finding):
                continue
            replaced = self.replaced(finding)
            if replaced is None:
                unknown.append(finding)
            else:
                stale.append(StaleFinding(finding=finding, **replaced.model_dump()))
        return ContactCheck(country=self.country, findings=findings, unknown=unknown, stale=stale)
