"""Cross-file checks for `psychosafe knowledge check`: what the schema alone cannot prove.

Each check returns problems as lines naming the file and the place. The shipped knowledge base must produce none;
a test proves it, so a template that leaks a dose, labels a person or breaks a lookup cannot be merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from psychosafe.errors import KnowledgeError
from psychosafe.knowledge.loader import Knowledge, load_knowledge
from psychosafe.knowledge.phrases import SLOTS, template_slots, walk_templates
from psychosafe.knowledge.schema import INTENT_KEYS, Rule, matching
from psychosafe.types import Domain, Intent, Role

#: Slot values used when a template is checked as the person would read it.
SAMPLE_SLOTS = {"person": "your partner", "feeling": "exhausted", "situation": "everything at home"}

MIN_SELF_HELP = 6
MIN_SLOT_FREE = 3  # every lookup offers at least this many templates that need no slot
INSTRUCTION_SENTENCES = (2, 4)
OPENING_WORDS = 4

_DOMAINS: list[str | None] = [*(d.value for d in Domain), None]
_ROLES: list[str | None] = [*(r.value for r in Role), None]
_INTENTS: list[str] = list(INTENT_KEYS)


@dataclass(frozen=True)
class PoolRule:
    """How a section is looked up, how big its groups must be, and which marker every template must show."""

    keys: tuple[Sequence[str | None], ...]  # the key levels a lookup passes (None = unknown)
    group_depth: int  # templates below this depth count together towards `minimum`
    minimum: int
    marker: str | None = None  # a Language field every template must match


POOLS: dict[tuple[str, ...], PoolRule] = {
    ("acknowledge",): PoolRule((_DOMAINS, _INTENTS, _ROLES), 2, 8, "acknowledgement_markers"),
    ("boundary",): PoolRule((_DOMAINS, _ROLES), 1, 8, "refusal_markers"),
    ("self_help_lead",): PoolRule((), 0, 10),
    ("resource_lead",): PoolRule((_ROLES,), 1, 6),
    ("resource_brief",): PoolRule((_ROLES,), 1, 6),
    ("close",): PoolRule((_DOMAINS, _INTENTS), 2, 8, "invitation_markers"),
    ("crisis", "open"): PoolRule((), 0, 8),
    ("crisis", "safety_step"): PoolRule((_DOMAINS, _ROLES), 1, 6),
    ("crisis", "question"): PoolRule((_DOMAINS, _ROLES), 1, 6, "safety_question_markers"),
    ("crisis", "stay"): PoolRule((), 0, 8),
    ("victim_safety",): PoolRule((), 0, 6),
    ("check_in",): PoolRule((), 0, 8),
    ("after_refusal",): PoolRule((), 0, 8),
    ("support_intro",): PoolRule((_DOMAINS,), 1, 8),
}


def check_knowledge(knowledge: Knowledge | None = None) -> list[str]:
    """Every problem found in the knowledge base (default: the shipped one); an empty list means it is sound."""
    if knowledge is None:
        try:
            knowledge = load_knowledge()
        except KnowledgeError as error:
            return str(error).splitlines()
    problems = [
        *_check_patterns(knowledge),
        *_check_routes(knowledge),
        *_check_strategies(knowledge),
        *_check_pools(knowledge),
        *_check_texts(knowledge),
    ]
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------------------------------- helpers


def fill(template: str) -> str:
    """The template as a person would read it, with sample slot values (unknown slots become "something")."""
    return re.sub(r"\{(\w*)\}", lambda m: SAMPLE_SLOTS.get(m.group(1), "something"), template)


def opening(text: str) -> tuple[str, ...]:
    """The first words, lower-cased and without punctuation, for spotting templates that start alike."""
    words = re.findall(r"[a-z]+", text.lower().replace("'", "").replace("’", ""))
    return tuple(words[:OPENING_WORDS])


def _user_texts(knowledge: Knowledge) -> Iterator[tuple[str, str]]:
    """Every text a person may read: phrases and self-help steps, with a location."""
    for where, text in knowledge.phrases.templates():
        yield f"phrases.yaml: {where}", text
    for strategy in knowledge.strategies.values():
        for role, steps in strategy.self_help.items():
            for index, text in enumerate(steps):
                yield f"strategies.yaml: {strategy.id}.self_help.{role}[{index}]", text


def _all_rules(knowledge: Knowledge) -> Iterator[tuple[str, Rule]]:
    for domain, info in knowledge.domains.items():
        for index, rule in enumerate(info.specifics):
            yield f"domains.yaml: {domain.value}.specifics[{index}]", rule
    for field in type(knowledge.language).model_fields:
        rules = getattr(knowledge.language, field)
        for index, rule in enumerate(rules):
            if isinstance(rule, Rule):
                yield f"language.yaml: {field}[{index}]", rule


def _duplicate_openings(where: str, templates: Sequence[str]) -> Iterator[str]:
    seen: dict[tuple[str, ...], str] = {}
    for text in templates:
        start = opening(text)
        if start in seen:
            yield f"{where}: two templates open with {' '.join(start)!r}: {seen[start]!r} / {text!r}"
        seen.setdefault(start, text)


# --------------------------------------------------------------------------------------------------- checks


def _check_patterns(knowledge: Knowledge) -> Iterator[str]:
    """A pattern that matches empty text matches everything, which would flag every draft."""
    for where, rule in _all_rules(knowledge):
        if rule.search(""):
            yield f"{where}: pattern matches empty text"


def _check_routes(knowledge: Knowledge) -> Iterator[str]:
    for index, route in enumerate(knowledge.routes, start=1):
        for sid in route.strategies:
            if sid not in knowledge.strategies:
                yield f"routes.yaml: rule {index} ({route.describe()}) names unknown strategy {sid!r}"
    for domain in [*Domain, None]:
        for intent in (Intent(i) for i in _INTENTS):
            for role in [*Role, None]:
                rule = knowledge.route_for(domain, intent, role)
                if rule is None:
                    yield f"routes.yaml: no rule for domain={domain}, intent={intent}, role={role}"
                    continue
                for sid in rule.strategies:
                    strategy = knowledge.strategies.get(sid)
                    if strategy is None:
                        continue
                    if not strategy.fits(domain):
                        yield (
                            f"routes.yaml: rule ({rule.describe()}) uses {sid!r} for domain "
                            f"{domain.value if domain else 'general'}, which the strategy does not list"
                        )
                    if not strategy.self_help_for(role):
                        yield (
                            f"routes.yaml: rule ({rule.describe()}) uses {sid!r} for role {role}, "
                            "but it has no self-help for that role"
                        )


def _check_strategies(knowledge: Knowledge) -> Iterator[str]:
    low, high = INSTRUCTION_SENTENCES
    for strategy in knowledge.strategies.values():
        where = f"strategies.yaml: {strategy.id}"
        sentences = len(re.findall(r"[.!?](?=\s|$)", strategy.instruction))
        if not low <= sentences <= high:
            yield f"{where}.instruction: {sentences} sentences, needs {low}-{high}"
        for role, steps in strategy.self_help.items():
            if len(steps) < MIN_SELF_HELP:
                yield f"{where}.self_help.{role}: {len(steps)} steps, needs at least {MIN_SELF_HELP}"
        for role in [*Role, None]:
            steps = strategy.self_help_for(role)
            if steps:
                yield from _duplicate_openings(f"{where}.self_help for role {role}", steps)


def _check_pools(knowledge: Knowledge) -> Iterator[str]:
    phrases = knowledge.phrases
    for section, rule in POOLS.items():
        name = ".".join(section)
        node: object = phrases
        for part in section:
            node = getattr(node, part)
        for where, group in _groups(node, rule.group_depth, name):
            if len(group) < rule.minimum:
                yield f"phrases.yaml: {where}: {len(group)} templates, needs at least {rule.minimum}"
        for keys in _combinations(rule.keys):
            where = f"phrases.yaml: lookup {name} {'/'.join(str(k) for k in keys)}"
            try:
                templates = phrases.pool(*section, *keys)
            except KeyError as error:
                yield f"{where}: {error}"
                continue
            slot_free = [t for t in templates if _slots_or_none(t) == frozenset()]
            if len(slot_free) < MIN_SLOT_FREE:
                yield f"{where}: {len(slot_free)} slot-free templates, needs at least {MIN_SLOT_FREE}"
            yield from _duplicate_openings(where, templates)
        if rule.marker:
            markers: list[Rule] = getattr(knowledge.language, rule.marker)
            for where, text in walk_templates(node, name):
                if not matching(markers, fill(text)):
                    yield f"phrases.yaml: {where}: matches none of language.yaml {rule.marker}: {text!r}"
    for where, text in walk_templates(phrases.crisis.question, "crisis.question"):
        if text.count("?") != 1 or not text.rstrip().endswith("?"):
            yield f"phrases.yaml: {where}: must be exactly one question, ending with '?': {text!r}"


def _check_texts(knowledge: Knowledge) -> Iterator[str]:
    language = knowledge.language
    texts = [(where, text, fill(text)) for where, text in _user_texts(knowledge)]
    for where, text, filled in texts:
        slots = _slots_or_none(text)
        if slots is None:
            yield f"{where}: unbalanced braces: {text!r}"
        elif slots - SLOTS:
            yield f"{where}: unknown slot(s) {', '.join(sorted(slots - SLOTS))}: {text!r}"
        if re.search(r"\d", text):
            yield f"{where}: contains a digit (numbers come only from the helpline directory): {text!r}"
        label = language.label_word_regex.search(filled)
        if label:
            yield f"{where}: uses the label word {label.group(0)!r}: {text!r}"
    rules = [
        (f"language.yaml {field} ({rule.note})", rule)
        for field in ("labels", "unsafe_messaging", "overpromise")
        for rule in getattr(language, field)
    ]
    rules += [
        (f"domains.yaml {domain.value}.specifics[{index}] ({rule.note})", rule)
        for domain, info in knowledge.domains.items()
        for index, rule in enumerate(info.specifics)
    ]
    # Screen each pattern on all texts at once: one that finds nothing there matches no single text either.
    joined = "\n\n\n".join(part for _, text, filled in texts for part in {text, filled})
    for source, rule in rules:
        if rule.search(joined) is None:
            continue
        for where, text, filled in texts:
            found = rule.search(text) or rule.search(filled)
            if found:
                yield f"{where}: matches {source}: {found.group(0)!r} in {text!r}"


def _slots_or_none(text: str) -> frozenset[str] | None:
    try:
        return template_slots(text)
    except ValueError:
        return None


def _combinations(levels: tuple[Sequence[str | None], ...]) -> Iterator[tuple[str | None, ...]]:
    if not levels:
        yield ()
        return
    for key in levels[0]:
        for rest in _combinations(levels[1:]):
            yield (key, *rest)


def _groups(node: object, depth: int, path: str) -> Iterator[tuple[str, list[str]]]:
    """Templates grouped at `depth` levels below `node` (0: the whole node)."""
    if depth == 0 or not isinstance(node, dict):
        yield path, [text for _, text in walk_templates(node, path)]
        return
    for key, child in node.items():
        yield from _groups(child, depth - 1, f"{path}.{key}")
