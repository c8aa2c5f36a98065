"""The helpline directory: per-country services with provenance, chosen for a risk and role, and a checker that
catches any phone number, address or email in a reply that the directory does not hold."""

from psychosafe.resources.checking import ContactCheck, StaleFinding
from psychosafe.resources.contacts import ContactFinding, find_contacts
from psychosafe.resources.directory import Directory, check, default_directory
from psychosafe.resources.locale import resolve_country
from psychosafe.resources.validate import validate_directory

__all__ = [
    "ContactCheck",
    "ContactFinding",
    "Directory",
    "StaleFinding",
    "check",
    "default_directory",
    "find_contacts",
    "resolve_country",
    "validate_directory",
]
