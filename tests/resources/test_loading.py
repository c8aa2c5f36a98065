from pathlib import Path

import pytest
import yaml

from psychosafe.errors import KnowledgeError
from psychosafe.resources import Directory, default_directory, validate_directory
from psychosafe.types import Confidence, ServiceKind
from tests.resources.helpers import country_file, intl_file, service, write

SHIPPED = [
    "AU", "BR", "CA", "DE", "DK", "ES", "FR", "GB", "IE", "IN", "IT", "JP", "MX", "NL", "NZ", "SE", "US", "ZA",
]


def test_shipped_directory_has_every_country_and_the_fallback() -> None:
    directory = default_directory()
    assert directory.countries() == SHIPPED
    assert "INTL" in directory.files
    assert default_directory() is directory  # cached


def test_shipped_directory_passes_validation() -> None:
    assert validate_directory() == []
    assert validate_directory(default_directory()) == []


def test_every_entry_carries_provenance() -> None:
    for file in default_directory().files.values():
        assert "fact sheet" in file.checked_against and "not checked live" in file.checked_against.lower()
        for entry in file.services:
            assert entry.verified.isoformat() == "2026-11-23", entry.id
            assert entry.source.startswith(("https://", "fact-sheet:helplines.md#")), entry.id
            assert entry.confidence in (Confidence.CONFIRMED, Confidence.LIKELY)
            assert entry.country == file.country


def test_unverified_facts_are_not_shipped() -> None:
    directory = default_directory()
    brazil = directory.emergency("BR")
    assert brazil.contacts == [] and brazil.name == "your local emergency number"
    sweden_numbers = {c.value for e in directory.entries("SE") for c in e.contacts}
    assert "116 016" not in sweden_numbers  # reported by one secondary source only
    stop_it_now = next(e for e in directory.entries("US") if e.id == "us-stop-it-now")
    assert stop_it_now.hours == "not confirmed — check the website"  # hours marked U


def test_conflicting_sources_ship_as_likely_with_an_explanation() -> None:
    sadag = next(e for e in default_directory().entries("ZA") if e.id == "za-sadag")
    assert sadag.confidence is Confidence.LIKELY
    assert sadag.notes and "conflict" in sadag.notes


def test_emergency_entries_have_no_other_kind_and_intl_has_no_numbers() -> None:
    directory = default_directory()
    for code in [*directory.countries(), "INTL"]:
        assert directory.emergency(code).kind is ServiceKind.EMERGENCY
    intl = directory.files["INTL"]
    assert all(c.kind.value == "url" for e in intl.services for c in e.contacts)


# ------------------------------------------------------------------------------------------- schema errors


def _load_error(tmp_path: Path) -> str:
    with pytest.raises(KnowledgeError) as caught:
        Directory.load(tmp_path)
    return str(caught.value)


def test_loads_a_small_valid_folder(tmp_path: Path) -> None:
    directory = Directory.load(write(tmp_path, country_file(), intl_file()))
    assert directory.countries() == ["PL"]
    assert [e.id for e in directory.entries("PL")] == ["pl-emergency", "pl-line"]


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, intl_file())
    (tmp_path / "PL.yaml").write_text("country: PL\nservices: [unclosed\n")
    message = _load_error(tmp_path)
    assert message.startswith("PL.yaml: not valid YAML")


def test_unknown_domain_names_file_entry_and_field(tmp_path: Path) -> None:
    bad = service("PL", "line", domains=["gambling"])
    write(tmp_path, country_file(services=[bad]), intl_file())
    message = _load_error(tmp_path)
    assert message.startswith("PL.yaml: services[0] (pl-line).domains[0]:")
    assert "suicide_self_harm" in message  # pydantic lists the allowed values


def test_unknown_role_names_the_field(tmp_path: Path) -> None:
    write(tmp_path, country_file(services=[service("PL", "line", roles=["bystander"])]), intl_file())
    assert "services[0] (pl-line).roles[0]:" in _load_error(tmp_path)


@pytest.mark.parametrize("field", ["source", "verified", "confidence", "contacts"])
def test_missing_required_field_is_named(tmp_path: Path, field: str) -> None:
    entry = service("PL", "line")
    del entry[field]
    write(tmp_path, country_file(services=[entry]), intl_file())
    message = _load_error(tmp_path)
    assert f"services[0] (pl-line).{field}: Field required" in message


def test_unverified_confidence_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, country_file(services=[service("PL", "line", confidence="unverified")]), intl_file())
    assert "services[0] (pl-line).confidence:" in _load_error(tmp_path)


def test_a_service_cannot_set_its_own_country(tmp_path: Path) -> None:
    write(tmp_path, country_file(services=[service("PL", "line", country="DE")]), intl_file())
    message = _load_error(tmp_path)
    assert "PL.yaml" in message and "services[0].country" in message


def test_header_must_match_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, intl_file())
    (tmp_path / "DE.yaml").write_text(yaml.safe_dump(country_file("PL")))
    assert _load_error(tmp_path) == "DE.yaml: country: is 'PL', the file name says 'DE'"


def test_calling_code_must_be_digits(tmp_path: Path) -> None:
    write(tmp_path, country_file(calling_code="+48"), intl_file())
    assert _load_error(tmp_path).startswith("PL.yaml: calling_code:")


def test_a_file_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, intl_file())
    (tmp_path / "PL.yaml").write_text("- just\n- a list\n")
    assert _load_error(tmp_path).startswith("PL.yaml: expected a mapping")


def test_the_international_file_is_required(tmp_path: Path) -> None:
    write(tmp_path, country_file())
    assert "INTL.yaml" in _load_error(tmp_path)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert "no directory files" in _load_error(tmp_path)


# ------------------------------------------------------------------------------------------- validation


def test_validation_of_a_folder_reports_schema_errors_of_every_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        country_file("PL", services=[service("PL", "line", domains=["gambling"])]),
        country_file("CZ", services=[service("CZ", "line", roles=["bystander"])]),
        intl_file(),
    )
    problems = validate_directory(tmp_path)
    assert any(p.startswith("PL.yaml: services[0] (pl-line).domains[0]") for p in problems)
    assert any(p.startswith("CZ.yaml: services[0] (cz-line).roles[0]") for p in problems)


def _problems(tmp_path: Path, *files: dict) -> list[str]:
    return validate_directory(Directory.load(write(tmp_path, *files)))


def test_validation_finds_duplicate_ids(tmp_path: Path) -> None:
    twice = country_file(services=[*country_file()["services"], service("PL", "line")])
    assert "id 'pl-line' is used 2 times" in _problems(tmp_path, twice, intl_file())


def test_validation_finds_a_stale_number_listed_as_current(tmp_path: Path) -> None:
    stale = [{"number": "0800-123-456", "replaced_by": "112", "note": "old"}]
    problems = _problems(tmp_path, country_file(stale=stale), intl_file())
    assert "PL.yaml: stale number 0800-123-456 is also listed as a current contact" in problems


def test_validation_finds_a_replacement_the_country_does_not_list(tmp_path: Path) -> None:
    stale = [{"number": "0800 999 999", "replaced_by": "0800 777 777", "note": "old"}]
    problems = _problems(tmp_path, country_file(stale=stale), intl_file())
    assert "PL.yaml: stale number 0800 999 999: its replacement 0800 777 777 is not listed" in problems


def test_validation_finds_a_country_without_emergency_entry(tmp_path: Path) -> None:
    problems = _problems(tmp_path, country_file(services=[service("PL", "line")]), intl_file())
    assert "PL.yaml: has 0 emergency entries, needs exactly one" in problems


def test_validation_finds_entries_without_usable_provenance(tmp_path: Path) -> None:
    entries = [
        *country_file()["services"],
        service("PL", "web", source="example.org"),
        service("PL", "x", source=""),
    ]
    problems = _problems(tmp_path, country_file(services=entries), intl_file())
    assert any(p.startswith("PL.yaml: pl-web: source: 'example.org'") for p in problems)
    assert any(p.startswith("PL.yaml: pl-x: source: ''") for p in problems)


def test_validation_finds_contacts_the_checker_cannot_read(tmp_path: Path) -> None:
    contacts = [{"kind": "phone", "value": "call us"}, {"kind": "url", "value": "http://x.org"}]
    odd = service("PL", "odd", contacts=contacts)
    problems = _problems(tmp_path, country_file(services=[*country_file()["services"], odd]), intl_file())
    assert "PL.yaml: pl-odd: contact 'call us': the contact checker does not read it as one number" in problems
    assert "PL.yaml: pl-odd: contact 'http://x.org': not an https URL" in problems


def test_validation_finds_wrong_ids_empty_lists_and_narrow_emergency_entries(tmp_path: Path) -> None:
    entries = [
        service("PL", "emergency", kind="emergency", contacts=[{"kind": "phone", "value": "112"}]),
        service("DE", "line"),
        service("PL", "empty", roles=[], contacts=[]),
    ]
    problems = _problems(tmp_path, country_file(services=entries), intl_file())
    assert "PL.yaml: pl-emergency: an emergency entry serves every domain and every role" in problems
    assert "PL.yaml: de-line: id should start with pl-" in problems
    assert "PL.yaml: pl-empty: domains and roles: both need at least one value" in problems
    assert "PL.yaml: pl-empty: contacts: only an emergency entry may have none" in problems


def test_validation_rejects_numbers_in_the_international_file(tmp_path: Path) -> None:
    intl = intl_file()
    intl["services"].append(service("INTL", "phone"))
    problems = _problems(tmp_path, country_file(), intl)
    assert any(p.startswith("INTL.yaml: intl-phone: the international file holds no numbers") for p in problems)
