"""Loading the knowledge base: five YAML files, schema-checked, into one `Knowledge` object.

The shipped folder is loaded once per process (every guard, composer and verifier shares it); any other folder is
read fresh, so tests and authors see their edits. Every error names the file and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from psychosafe.errors import KnowledgeError
from psychosafe.knowledge.phrases import Phrases
from psychosafe.knowledge.routes import Route, Routes, resolve_route
from psychosafe.knowledge.schema import DomainInfo, Domains, Language, Strategies, Strategy
from psychosafe.types import Domain, Intent, Role

#: The folder holding the shipped YAML files.
KNOWLEDGE_DIR = Path(__file__).resolve().parent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "domains.yaml": TypeAdapter(Domains),
    "strategies.yaml": TypeAdapter(Strategies),
    "routes.yaml": TypeAdapter(Routes),
    "phrases.yaml": TypeAdapter(Phrases),
    "language.yaml": TypeAdapter(Language),
}

_MAX_REPORTED = 5

# The C loader reads the files several times faster where libyaml is available.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Knowledge:
    """The whole knowledge base, read-only."""

    path: Path
    domains: Mapping[Domain, DomainInfo]
    strategies: Mapping[str, Strategy]
    routes: tuple[Route, ...]
    phrases: Phrases
    language: Language

    def route_for(self, domain: Domain | None, intent: Intent, role: Role | None) -> Route | None:
        """The routing rule that applies, or None when routes.yaml leaves the combination open."""
        return resolve_route(self.routes, domain, intent, role)

    def strategies_for(self, domain: Domain | None, intent: Intent, role: Role | None) -> list[Strategy]:
        """Strategies that fit the situation, best first. Raises KnowledgeError if routes.yaml cannot answer."""
        route = self.route_for(domain, intent, role)
        if route is None:
            raise KnowledgeError(
                f"routes.yaml: no rule for domain={domain}, intent={intent}, role={role}; add a wildcard rule"
            )
        unknown = [sid for sid in route.strategies if sid not in self.strategies]
        if unknown:
            raise KnowledgeError(
                f"routes.yaml: rule ({route.describe()}) names unknown strategies: {', '.join(unknown)}"
            )
        return [self.strategies[sid] for sid in route.strategies]


def load_knowledge(path: Path | None = None) -> Knowledge:
    """Load and schema-check the knowledge base from `path` (default: the shipped folder, cached)."""
    if path is None or Path(path).resolve() == KNOWLEDGE_DIR:
        return _load_shipped()
    return _load(Path(path))


@functools.cache
def _load_shipped() -> Knowledge:
    return _load(KNOWLEDGE_DIR)


def _load(folder: Path) -> Knowledge:
    strategies: list[Strategy] = _read(folder, "strategies.yaml")
    return Knowledge(
        path=folder,
        domains=_read(folder, "domains.yaml"),
        strategies={strategy.id: strategy for strategy in strategies},
        routes=tuple(_read(folder, "routes.yaml")),
        phrases=_read(folder, "phrases.yaml"),
        language=_read(folder, "language.yaml"),
    )


def _read(folder: Path, name: str) -> Any:
    file = folder / name
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # a safe loader
    except FileNotFoundError:
        raise KnowledgeError(f"{name}: file not found in {folder}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KnowledgeError(f"{name}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    try:
        return _ADAPTERS[name].validate_python(data)
    except ValidationError as error:
        raise KnowledgeError(_describe(name, data, error)) from None


def _describe(name: str, data: Any, error: ValidationError) -> str:
    """One line per problem: file, dotted field path, and pydantic's message.

    In a list of entries the first part names the entry by its id when it has one ("qpr.source.url"), else by its
    position ("entry 3.domain"), counting from 1 as an author reading the file would.
    """
    lines = []
    for problem in error.errors()[:_MAX_REPORTED]:
        parts = [str(part) for part in problem["loc"]]
        if parts and isinstance(problem["loc"][0], int) and isinstance(data, list):
            index = int(problem["loc"][0])
            entry = data[index] if index < len(data) else None
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            parts[0] = str(entry_id) if entry_id else f"entry {index + 1}"
        field = ".".join(parts) or "(top level)"
        lines.append(f"{name}: {field}: {problem['msg']}")
    if error.error_count() > _MAX_REPORTED:
        lines.append(f"{name}: ... and {error.error_count() - _MAX_REPORTED} more problems")
    return "\n".join(lines)
