"""Fixtures for knowledge-base tests: the shipped knowledge, and editable copies of its files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from psychosafe.knowledge import KNOWLEDGE_DIR, Knowledge, load_knowledge


@pytest.fixture(scope="session")
def shipped() -> Knowledge:
    return load_knowledge()


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped YAML files."""
    folder = tmp_path / "kb"
    folder.mkdir()
    for file in KNOWLEDGE_DIR.glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture
def edit(kb_copy: Path) -> Callable[[str, Callable[[Any], object]], Path]:
    """edit(file, change): load a copied file, let `change` modify its data in place, write it back."""

    def apply(name: str, change: Callable[[Any], object]) -> Path:
        file = kb_copy / name
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        change(data)
        file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return kb_copy

    return apply
