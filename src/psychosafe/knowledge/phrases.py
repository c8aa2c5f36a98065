"""The composer's building blocks (phrases.yaml): typed sections and a lookup that never comes back empty.

Pools are nested mappings: domain (or `general`) -> intent -> role (or `any`) -> templates, or a shorter path.
`Phrases.pool` walks the path the caller knows; where a key is missing or None it falls back to `any`, then to
`general`; where a role has its own templates the `any` ones are added, since they suit every role. The schema
requires `general` at every domain level and `any` at every role level, so any lookup with valid keys finds text.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Iterator, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from psychosafe.knowledge.schema import (
    DOMAIN_KEYS,
    INTENT_KEYS,
    DomainKey,
    IntentKey,
    RoleKey,
    Texts,
    requires,
)

#: The only slots a template may use; the composer fills them from the user's own words.
SLOTS: frozenset[str] = frozenset({"person", "feeling", "situation"})

ANY = "any"
GENERAL = "general"

ByRole = Annotated[dict[RoleKey, Texts], requires(ANY)]
ByIntent = Annotated[dict[IntentKey, Texts], requires(*INTENT_KEYS)]
ByIntentRole = Annotated[dict[IntentKey, ByRole], requires(*INTENT_KEYS)]
ByDomain = Annotated[dict[DomainKey, Texts], requires(*DOMAIN_KEYS)]
ByDomainRole = Annotated[dict[DomainKey, ByRole], requires(*DOMAIN_KEYS)]
ByDomainIntent = Annotated[dict[DomainKey, ByIntent], requires(*DOMAIN_KEYS)]
ByDomainIntentRole = Annotated[dict[DomainKey, ByIntentRole], requires(*DOMAIN_KEYS)]


def template_slots(template: str) -> frozenset[str]:
    """The slot names a template uses. Raises ValueError for unbalanced braces."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name is not None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrisisPhrases(_Section):
    open: Texts
    safety_step: ByDomainRole
    question: ByDomainRole
    stay: Texts


class Phrases(_Section):
    acknowledge: ByDomainIntentRole
    boundary: ByDomainRole
    self_help_lead: Texts
    resource_lead: ByRole
    resource_brief: ByRole
    close: ByDomainIntent
    crisis: CrisisPhrases
    victim_safety: Texts
    check_in: Texts
    after_refusal: Texts
    support_intro: ByDomain

    def pool(self, section: str, *keys: str | None, slots: Collection[str] | None = None) -> list[str]:
        """Templates for a section and a path of keys, most specific first.

        `keys` are domain, intent, role (or the subset the section uses), given as enum members, strings or None;
        extra trailing keys are ignored. With `slots`, only templates whose slots are all available are returned.
        Example: `pool("acknowledge", Domain.VIOLENCE, Intent.HARM_SEEKING, Role.VICTIM, slots={"person"})`.
        Raises KeyError for a section or key that the file cannot resolve (e.g. intent "benign").
        """
        templates = _resolve(self, [section, *keys], "phrases")
        if slots is None:
            return templates
        available = set(slots)
        return [t for t in templates if template_slots(t) <= available]

    def templates(self) -> Iterator[tuple[str, str]]:
        """Every template with its location, e.g. ("acknowledge.violence.harm_seeking.any[2]", "...")."""
        yield from walk_templates(self.model_dump(), "")


def _resolve(node: object, keys: Sequence[str | None], path: str) -> list[str]:
    if isinstance(node, list):
        return list(node)
    key = str(keys[0]) if keys and keys[0] is not None else None
    rest = keys[1:]
    if isinstance(node, BaseModel):
        if key not in type(node).model_fields:
            raise KeyError(f"{path} has no section {key!r}")
        return _resolve(getattr(node, key), rest, f"{path}.{key}")
    assert isinstance(node, dict)
    if key is not None and key in node and key not in (ANY, GENERAL):
        found = _resolve(node[key], rest, f"{path}.{key}")
        if ANY in node:
            found += [t for t in _resolve(node[ANY], rest, f"{path}.{ANY}") if t not in found]
        return found
    for fallback in (ANY, GENERAL):
        if fallback in node:
            return _resolve(node[fallback], rest, f"{path}.{fallback}")
    raise KeyError(f"{path} has no entry for {key!r}")


def walk_templates(node: object, path: str) -> Iterator[tuple[str, str]]:
    """Every template under a plain node (nested dicts and lists), with its dotted location."""
    if isinstance(node, list):
        for index, text in enumerate(node):
            yield f"{path}[{index}]", text
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from walk_templates(child, f"{path}.{key}" if path else str(key))
