import pytest

from psychosafe.resources import default_directory
from psychosafe.resources.ranking import RELATED_DOMAIN
from psychosafe.types import Confidence, Domain, Resource, Role, ServiceKind

DIRECTORY = default_directory()
COUNTRIES = DIRECTORY.countries()


def _ids(resources: list[Resource]) -> list[str]:
    return [r.id for r in resources]


def _fits(service: Resource, domain: Domain, role: Role) -> bool:
    domains = {domain, RELATED_DOMAIN.get(domain)}
    return bool(domains & set(service.domains)) and role in service.roles


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("domain", [*Domain, None])
@pytest.mark.parametrize("role", [*Role, None])
@pytest.mark.parametrize("youth", [False, True])
def test_every_country_domain_and_role_gets_sensible_resources(
    country: str, domain: Domain | None, role: Role | None, youth: bool
) -> None:
    chosen = DIRECTORY.select(country, domain, role, youth=youth)
    assert (chosen.country, chosen.fallback, chosen.requested) == (country, False, country)
    assert chosen.emergency is not None and chosen.emergency.id == f"{country.lower()}-emergency"
    services = chosen.services
    assert 1 <= len(services) <= 3
    assert len(set(_ids(services))) == len(services)
    assert all(s.country == country and s.kind is not ServiceKind.EMERGENCY for s in services)
    if not youth:
        assert all(s.kind is not ServiceKind.YOUTH for s in services)
    if role is None:
        assert all(s.kind is not ServiceKind.PERPETRATOR_SUPPORT for s in services)
    else:
        assert all(role in s.roles for s in services)
    if domain is None and not youth:
        assert all(s.kind is ServiceKind.CRISIS_LINE for s in services)
    if domain is not None and role is not None:
        excluded = {ServiceKind.EMERGENCY, ServiceKind.DIRECTORY} | (set() if youth else {ServiceKind.YOUTH})
        pool = [s for s in DIRECTORY.entries(country) if s.kind not in excluded]
        if any(_fits(s, domain, role) for s in pool):
            assert _fits(services[0], domain, role), "a specialist exists but is not offered first"


@pytest.mark.parametrize(
    ("country", "domain", "role", "first"),
    [
        ("GB", Domain.SEXUAL_HARM, Role.VICTIM, "gb-rape-crisis"),
        ("GB", Domain.VIOLENCE, Role.VICTIM, "gb-domestic-abuse-helpline"),
        ("GB", Domain.VIOLENCE, Role.OTHERS, "gb-respect"),
        ("GB", Domain.SEXUAL_HARM, Role.OTHERS, "gb-stop-it-now"),
        ("GB", Domain.SUBSTANCE_USE, Role.THIRD_PARTY, "gb-frank"),
        ("US", Domain.VIOLENCE, Role.OTHERS, "us-a-call-for-change"),
        ("US", Domain.SEXUAL_HARM, Role.OTHERS, "us-stop-it-now"),
        ("US", Domain.SUBSTANCE_USE, Role.SELF, "us-samhsa"),
        ("US", Domain.SUICIDE_SELF_HARM, Role.SELF, "us-988"),
        ("AU", Domain.SEXUAL_HARM, Role.VICTIM, "au-1800respect"),
        ("NZ", Domain.SEXUAL_HARM, Role.OTHERS, "nz-safe-to-talk"),
        ("DE", Domain.SEXUAL_HARM, Role.OTHERS, "de-kein-taeter-werden"),
        ("NL", Domain.VIOLENCE, Role.OTHERS, "nl-veilig-thuis"),
        ("DK", Domain.VIOLENCE, Role.VICTIM, "dk-lev-uden-vold"),
        ("ZA", Domain.SEXUAL_HARM, Role.VICTIM, "za-gbv-command-centre"),
        ("JP", Domain.SEXUAL_HARM, Role.VICTIM, "jp-sexual-assault-8891"),
    ],
)
def test_the_specialist_comes_first(country: str, domain: Domain, role: Role, first: str) -> None:
    assert DIRECTORY.select(country, domain, role).services[0].id == first


def test_specialists_are_followed_by_crisis_lines() -> None:
    assert _ids(DIRECTORY.select("US", Domain.VIOLENCE, Role.OTHERS).services) == [
        "us-a-call-for-change",
        "us-988",
        "us-crisis-text-line",
    ]


def test_confirmed_specialists_come_before_likely_ones() -> None:
    services = DIRECTORY.select("GB", Domain.VIOLENCE, Role.VICTIM).services
    assert _ids(services) == [
        "gb-domestic-abuse-helpline",
        "gb-scotland-domestic-abuse-helpline",
        "gb-mens-advice-line",
    ]


def test_a_weapon_threat_is_met_with_violence_services() -> None:
    assert DIRECTORY.select("GB", Domain.WEAPONS, Role.VICTIM).services[0].id == "gb-domestic-abuse-helpline"
    assert DIRECTORY.select("GB", Domain.WEAPONS, Role.OTHERS).services[0].id == "gb-respect"


def test_youth_lines_only_when_asked_and_then_first() -> None:
    adult = DIRECTORY.select("GB", Domain.SUICIDE_SELF_HARM, Role.SELF)
    young = DIRECTORY.select("GB", Domain.SUICIDE_SELF_HARM, Role.SELF, youth=True)
    assert "gb-childline" not in _ids(adult.services)
    assert young.services[0].id == "gb-childline"


def test_unknown_role_never_offers_perpetrator_lines() -> None:
    ids = _ids(DIRECTORY.select("US", Domain.VIOLENCE, None, limit=10).services)
    assert "us-domestic-violence-hotline" in ids and "us-a-call-for-change" not in ids


def test_no_risk_domain_gives_crisis_lines() -> None:
    assert _ids(DIRECTORY.select("GB", None, None).services) == ["gb-samaritans", "gb-shout"]


def test_min_confidence_confirmed_keeps_only_confirmed_services() -> None:
    services = DIRECTORY.select("US", Domain.SUICIDE_SELF_HARM, Role.SELF, min_confidence=Confidence.CONFIRMED)
    assert _ids(services.services) == ["us-988"]


def test_a_country_with_no_confirmed_line_falls_back_to_directories_but_keeps_its_emergency() -> None:
    chosen = DIRECTORY.select("IE", Domain.SUICIDE_SELF_HARM, Role.SELF, min_confidence=Confidence.CONFIRMED)
    assert (chosen.country, chosen.fallback) == ("IE", False)
    assert chosen.emergency is not None and chosen.emergency.id == "ie-emergency"
    assert _ids(chosen.services) == ["intl-findahelpline", "intl-befrienders-worldwide"]


@pytest.mark.parametrize(("limit", "count"), [(0, 0), (1, 1), (3, 3), (10, 5)])
def test_limit(limit: int, count: int) -> None:
    assert len(DIRECTORY.select("GB", Domain.VIOLENCE, Role.VICTIM, limit=limit).services) == count


@pytest.mark.parametrize("requested", ["PL", "pl-PL", "en", None, "Narnia", "INTL"])
def test_countries_without_a_file_get_the_international_fallback(requested: str | None) -> None:
    chosen = DIRECTORY.select(requested, Domain.SUICIDE_SELF_HARM, Role.SELF)
    assert (chosen.country, chosen.fallback, chosen.requested) == ("INTL", True, requested)
    assert chosen.emergency is not None
    assert chosen.emergency.name == "your local emergency number" and chosen.emergency.contacts == []
    assert _ids(chosen.services) == ["intl-findahelpline", "intl-befrienders-worldwide"]


def test_fallback_offers_troubled_desire_to_people_worried_about_harming_a_child() -> None:
    chosen = DIRECTORY.select("PL", Domain.SEXUAL_HARM, Role.OTHERS)
    assert _ids(chosen.services) == ["intl-troubled-desire", "intl-findahelpline", "intl-befrienders-worldwide"]


def test_fallback_youth_gets_child_helpline_international() -> None:
    chosen = DIRECTORY.select("PL", Domain.VIOLENCE, Role.VICTIM, youth=True)
    assert chosen.services[0].id == "intl-child-helpline-international"


def test_locales_select_their_country() -> None:
    chosen = DIRECTORY.select("en_GB.UTF-8", Domain.SUICIDE_SELF_HARM, Role.SELF)
    assert (chosen.country, chosen.requested, chosen.fallback) == ("GB", "en_GB.UTF-8", False)


def test_entries_and_emergency_accept_locales_and_fall_back() -> None:
    assert DIRECTORY.emergency("en-US").id == "us-emergency"
    assert DIRECTORY.emergency("de").id == "de-emergency"
    assert DIRECTORY.emergency("PL").id == "intl-emergency"
    assert _ids(DIRECTORY.entries("xx-invalid"))[0] == "intl-emergency"
    assert _ids(DIRECTORY.entries("GB"))[:2] == ["gb-emergency", "gb-samaritans"]


def test_callers_get_copies_that_cannot_change_the_directory() -> None:
    chosen = DIRECTORY.select("GB", Domain.SUICIDE_SELF_HARM, Role.SELF)
    chosen.services[0].contacts.clear()
    assert chosen.emergency is not None
    chosen.emergency.name = "changed"
    assert DIRECTORY.select("GB", Domain.SUICIDE_SELF_HARM, Role.SELF).services[0].contacts
    assert DIRECTORY.emergency("GB").name == "Emergency services"
