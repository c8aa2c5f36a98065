"""The helpline directory: every country file, looked up by country or locale.

Lookups never fail on a bad or unknown locale: a person in crisis still gets the international fallback
(findahelpline.com, "your local emergency number"), marked `fallback=True`. Use `resolve_country` directly
where a bad setting should be an error.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from psychosafe.errors import InvalidCountryError, KnowledgeError
from psychosafe.resources.checking import ContactCheck, Holdings
from psychosafe.resources.locale import resolve_country
from psychosafe.resources.phones import DialPlan
from psychosafe.resources.ranking import rank
from psychosafe.resources.schema import INTL, CountryFile, read_country_file
from psychosafe.types import Confidence, Domain, Resource, ResourceSet, Role, ServiceKind

DATA_DIR = Path(__file__).parent / "data"


class Directory:
    """Country files keyed by code ("GB", ..., and "INTL" for the international fallback)."""

    def __init__(self, files: dict[str, CountryFile]) -> None:
        if INTL not in files:
            raise KnowledgeError("INTL.yaml: missing; the international fallback is required")
        self.files = files
        self._holdings: dict[str, Holdings] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Directory:
        """Read every `*.yaml` in `path` (default: the shipped data); KnowledgeError on the first bad file."""
        folder = path or DATA_DIR
        files = [read_country_file(p) for p in sorted(folder.glob("*.yaml"))]
        if not files:
            raise KnowledgeError(f"{folder}: no directory files (*.yaml)")
        return cls({f.country: f for f in files})

    def countries(self) -> list[str]:
        """Codes of the countries with their own file (not "INTL")."""
        return sorted(code for code in self.files if code != INTL)

    def entries(self, country: str | None) -> list[Resource]:
        """All services of the country's file in file order; the international ones when it has no file."""
        return [_copy(s) for s in self._file(country).services]

    def emergency(self, country: str | None) -> Resource:
        """The country's emergency entry ("your local emergency number" without a file)."""
        file = self._file(country)
        if not file.emergency_entries:
            raise KnowledgeError(f"{file.country}.yaml: no emergency entry")
        return _copy(file.emergency_entries[0])

    def select(
        self,
        country: str | None,
        domain: Domain | None,
        role: Role | None,
        *,
        limit: int = 3,
        youth: bool = False,
        min_confidence: Confidence = Confidence.LIKELY,
    ) -> ResourceSet:
        """The emergency entry plus up to `limit` services for this risk domain and role, best first.

        Specialists for the domain and role come first, then general crisis lines; only when the country has
        neither does an international directory stand in. Youth lines are offered only when `youth` is set.
        The emergency entry is always set, whatever `min_confidence` says.
        """
        file = self._file(country)
        services = rank(file.services, domain, role, youth=youth, min_confidence=min_confidence)
        if not services:
            intl = self.files[INTL].services
            services = [s for s in intl if s.kind is ServiceKind.DIRECTORY and (role is None or role in s.roles)]
        return ResourceSet(
            country=file.country,
            requested=country,
            fallback=file.country == INTL,
            emergency=self.emergency(file.country),
            services=[_copy(s) for s in services[: max(limit, 0)]],
        )

    def check(self, text: str, country: str | None) -> ContactCheck:
        """Which contacts in `text` the directory does not hold for `country`, and which are stale."""
        code = self._file(country).country
        if code not in self._holdings:
            file, intl = self.files[code], self.files[INTL]
            plan = DialPlan(file.calling_code, file.trunk_prefix)
            self._holdings[code] = Holdings(code, plan, file.services + intl.services, file.stale)
        return self._holdings[code].check(text)

    def _file(self, country: str | None) -> CountryFile:
        if country is not None and country.strip().upper() == INTL:
            return self.files[INTL]
        try:
            code = resolve_country(country)
        except InvalidCountryError:
            code = None
        return self.files.get(code or INTL, self.files[INTL])


def _copy(resource: Resource) -> Resource:
    """Callers get copies: the directory is shared by every request of the process and must not change."""
    return resource.model_copy(deep=True)


@cache
def default_directory() -> Directory:
    """The shipped directory, loaded once per process."""
    return Directory.load()


def check(text: str, country: str | None) -> ContactCheck:
    """`Directory.check` on the shipped directory."""
    return default_directory().check(text, country)
