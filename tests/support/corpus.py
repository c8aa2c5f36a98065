"""A slice of the shipped triage corpus: the first rows of every file, for training tests that must be quick."""

from pathlib import Path

from psychosafe.triage.corpus import DATA_DIR


def corpus_slice(root: Path, messages: int, conversations: int) -> Path:
    """Copy the first `messages` / `conversations` lines of every corpus file into `root` (made if missing)."""
    for kind, keep in (("messages", messages), ("conversations", conversations)):
        (root / kind).mkdir(parents=True, exist_ok=True)
        for path in sorted((DATA_DIR / kind).glob("*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()[:keep]
            (root / kind / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
