"""The knowledge base: domains, strategies, routes, phrases and language, as schema-checked YAML data.

The offline composer, the LLM instruction builder and the verifier all read it through `load_knowledge()`;
`check_knowledge()` proves the files agree with each other (the `psychosafe knowledge check` command).
"""

from psychosafe.knowledge.checks import check_knowledge
from psychosafe.knowledge.loader import KNOWLEDGE_DIR, Knowledge, load_knowledge
from psychosafe.knowledge.phrases import SLOTS, Phrases, template_slots
from psychosafe.knowledge.routes import Route
from psychosafe.knowledge.schema import DomainInfo, Language, Rule, Source, Step, Strategy, matching

__all__ = [
    "KNOWLEDGE_DIR",
    "SLOTS",
    "DomainInfo",
    "Knowledge",
    "Language",
    "Phrases",
    "Route",
    "Rule",
    "Source",
    "Step",
    "Strategy",
    "check_knowledge",
    "load_knowledge",
    "matching",
    "template_slots",
]
