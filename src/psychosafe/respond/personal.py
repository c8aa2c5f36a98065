"""Pick the person's own specifics out of their message, safely.

A reply feels written for someone when it names what they named: "your roommate", "exhausted", "your exams".
Only words from fixed lists can come out of here, so a method, a substance, a quantity or a place can never be
echoed back, whatever the message says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psychosafe.triage.normalize import normalize

_PEOPLE = (
    "roommate", "flatmate", "housemate", "partner", "husband", "wife", "boyfriend", "girlfriend", "fiance",
    "fiancee", "ex", "ex-boyfriend", "ex-girlfriend", "ex-husband", "ex-wife", "ex-partner", "mum", "mom",
    "mother", "dad", "father", "stepdad", "stepmum", "stepmom", "stepfather", "stepmother", "parents",
    "brother", "sister", "son", "daughter", "kid", "kids", "child", "children", "baby", "teenager", "friend",
    "best friend", "boss", "manager", "coworker", "co-worker", "colleague", "teacher", "coach", "neighbour",
    "neighbor", "neighbours", "neighbors", "landlord", "uncle", "aunt", "cousin", "grandma", "grandmother",
    "grandpa", "grandfather", "family", "classmate", "teammate", "bully", "therapist", "doctor", "sibling",
)
_FEELINGS = (
    "hopeless", "worthless", "exhausted", "alone", "lonely", "numb", "trapped", "overwhelmed", "ashamed",
    "guilty", "angry", "furious", "enraged", "scared", "terrified", "frightened", "afraid", "empty", "lost",
    "broken", "tired", "desperate", "anxious", "stressed", "sad", "miserable", "humiliated", "betrayed",
    "jealous", "panicked", "stuck", "useless", "invisible", "unsafe", "confused", "heartbroken", "burnt out",
    "burned out", "drained", "defeated", "disgusted", "resentful", "helpless", "isolated", "unwanted",
)
# keyword pattern -> what the reply calls it
_SITUATIONS: tuple[tuple[str, str], ...] = (
    (r"\bexams?\b|\bfinals\b|\bgcses?\b|\ba-?levels?\b", "your exams"),
    (r"\blost my job\b|\bgot fired\b|\bbeen fired\b|\blaid off\b|\bredundan", "losing your job"),
    (r"\bdebts?\b|\bbills\b|\bmoney (?:problems|worries|trouble)\b|\bbroke\b|\bbankrupt", "money worries"),
    (r"\bbroke up\b|\bbreak-?up\b|\bdumped me\b|\bleft me\b", "the breakup"),
    (r"\bdivorce\b", "the divorce"),
    (r"\bbull(?:y|ied|ying)\b", "the bullying"),
    (r"\b(?:died|passed away|funeral|grief|grieving|lost my (?:mum|mom|dad|son|daughter|wife|husband|"
     r"brother|sister|friend|baby))\b", "this loss"),
    (r"\bchronic pain\b|\bin pain every day\b|\bconstant pain\b", "the pain you live with"),
    (r"\bcourt\b|\bcustody\b|\btrial\b", "the court case"),
    (r"\bhomeless\b|\beviction\b|\bevicted\b", "losing your home"),
    (r"\bdeadline\b|\bworkload\b|\boverwork", "the pressure at work"),
    (r"\buni\b|\buniversity\b|\bcollege\b|\bschool\b", "school"),
    (r"\bcheat(?:ed|ing) on me\b|\baffair\b", "the betrayal"),
    (r"\brelapse[ds]?\b", "the relapse"),
    (r"\bdiagnos(?:is|ed)\b", "the diagnosis"),
)

_PERSON = re.compile(
    r"\bmy (" + "|".join(sorted((re.escape(p) for p in _PEOPLE), key=len, reverse=True)) + r")\b"
)
_FEELING = re.compile(
    r"\b(?:i feel|i'm feeling|i am feeling|feeling|i'm so|i am so|i'm|i am|i've been|so)\s+(?:really |very |"
    r"just |completely |totally |so )?(" + "|".join(re.escape(f) for f in _FEELINGS) + r")\b"
)
_SITUATION = [(re.compile(p), phrase) for p, phrase in _SITUATIONS]


@dataclass(frozen=True)
class Specifics:
    """What a reply may mention back: each value is safe to show by construction."""

    person: str | None = None  # "your roommate"
    feeling: str | None = None  # "exhausted"
    situation: str | None = None  # "your exams"

    def slots(self) -> dict[str, str]:
        return {k: v for k, v in (("person", self.person), ("feeling", self.feeling),
                                  ("situation", self.situation)) if v}

    def describe(self) -> str:
        parts = [f"{k}: {v}" for k, v in self.slots().items()]
        return "; ".join(parts) if parts else "nothing specific"


def extract(text: str) -> Specifics:
    """Specifics from one message (the person's latest words)."""
    normalized = normalize(text)
    person = _PERSON.search(normalized)
    feeling = _FEELING.search(normalized)
    situation = next((phrase for pattern, phrase in _SITUATION if pattern.search(normalized)), None)
    who = None
    if person:
        word = person.group(1)
        who = f"your {word}"
    return Specifics(person=who, feeling=feeling.group(1) if feeling else None, situation=situation)
