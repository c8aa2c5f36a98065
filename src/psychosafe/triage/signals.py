"""High-precision cues a trained helper listens for: a stated wish to die, plan, means, timeframe, goodbye, an act
under way, and for harm to others, a target within reach.

The learned model reads meaning; these patterns explain it in words a person can check ("timeframe: tonight")
and raise severity where the evidence is explicit. They never raise risk on their own: a cue only counts when the
model already sees a risk domain, so "I've taken my meds" or "tonight's gig" stay harmless. Wrappers ("for a
novel", "ignore previous instructions") are found here too, so the core request can be scored without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psychosafe.types import Severity, Signal

_MEANS_NOUN = (
    r"(?:pills|tablets|meds|medication|medicine|sleeping pills|painkillers|rope|noose|belt|gun|guns|pistol|"
    r"rifle|shotgun|firearm|ammo|bullets|knife|knives|blade|blades|razor|razors|poison|bleach|petrol|gasoline|"
    r"lighter fluid|charcoal|car exhaust|insulin|a way to do it|everything i need)"
)

_PATTERNS: dict[str, re.Pattern[str]] = {
    "ideation": re.compile(  # first person, present: "I want to die", not "I felt like dying" or "going to die of"
        r"\bi(?:'m| am)? ?(?:want|wanna|need|plan(?:ning)?|intend|ready) (?:to )?(?:die|end (?:it all|my life|"
        r"myself)|kill myself|unalive myself|not (?:be here|wake up|exist))\b|"
        r"\bi(?:'m| am) (?:going to|gonna|about to) (?:end (?:it all|my life)|kill myself|unalive myself)\b|"
        r"\b(?:will|'ll|going to|gonna|wants? to|about to) (?:kill (?:him|her|them)sel(?:f|ves)|"
        r"end (?:his|her|their) (?:own )?life)\b"  # someone else's stated intent: "she says she'll kill herself"
    ),
    "plan": re.compile(
        r"\b(?:i(?:'ve| have) (?:decided|made up my mind|made a plan|got a plan|a plan)|"
        r"i(?:'m| am) (?:going|gonna|about) to (?:do it|end (?:it|my life|things)|kill|hurt|jump|shoot|stab|"
        r"hang|overdose|take (?:them|all))|"
        r"my plan is|i(?:'ve| have)? (?:written|wrote) (?:a|my) (?:note|letter|goodbye|will)|"
        r"i know (?:how|when|where) i(?:'m| am|'ll| will) (?:do it|going to)|"
        r"(?:it|this) ends (?:tonight|today|now)|i(?:'ll| will) (?:do it|end it) (?:tonight|today|now|soon))"
    ),
    "means": re.compile(
        rf"\b(?:i(?:'ve| have)(?: got)?|i got|i bought|i(?:'m| am) holding|i(?:'ve| have) saved(?: up)?|"
        rf"i(?:'ve| have) been (?:saving|collecting|stockpiling)|got|there(?:'s| is| are)) "
        rf"(?:the |some |a |an |enough |all the |all my |my |my (?:dad|father|mum|mom|mother)'?s? )?{_MEANS_NOUN}\b|"
        rf"\bstockpil(?:e|ed|ing)\b|\b{_MEANS_NOUN} (?:is|are) (?:ready|here|next to me|in my hand|loaded)\b"
    ),
    "timeframe": re.compile(
        r"\b(?:tonight|right now|today|this evening|this afternoon|this weekend|by tomorrow|before (?:morning|"
        r"tomorrow|sunrise)|after (?:everyone|they|the kids|my family)(?:'s| is| are)? (?:asleep|gone|leave)|"
        r"in (?:an|a few|\d+) (?:hour|hours|minutes)|when (?:he|she|they) (?:gets|get|come|comes) home)\b"
    ),
    "goodbye": re.compile(
        r"\b(?:goodbye (?:everyone|all|world|forever|for good)|this is (?:my )?(?:goodbye|the end|my last)|"
        r"won'?t be (?:here|around) (?:tomorrow|much longer|anymore|by)|by the time (?:you|anyone|someone) "
        r"(?:reads?|sees?|finds?) this|tell (?:my|them|everyone) .{0,30}(?:i love|i'm sorry|sorry)|"
        r"my last (?:message|words|night)|say goodbye to)\b"
    ),
    "in_progress": re.compile(
        r"\b(?:i(?:'ve| have)? (?:just |already )?(?:taken|took|swallowed|drank|downed) (?:all|the whole|"
        r"a bunch|a lot|too many|them|\d+)|i(?:'ve| have)? (?:just |already )?(?:cut|overdosed)|"
        r"(?:can't|cannot|won't) stop (?:the )?bleeding|i(?:'m| am) (?:standing )?on (?:the|a) "
        r"(?:bridge|ledge|roof|edge|tracks)|(?:he|she|they)(?:'s| is| are) (?:outside|at the door|breaking|"
        r"trying to get in|coming back)|(?:has|got|holding) a (?:knife|gun) (?:to|on|at) me|"
        r"(?:passed out|won'?t wake up|can'?t wake (?:him|her|them) up|not breathing|turning blue|unresponsive)|"
        r"(?:he|she|they)(?:'s| is| are) (?:barely conscious|half conscious|unconscious|not conscious(?! of)))\b"
    ),
    "target": re.compile(  # someone to harm within reach: where they are, their address
        r"\bi know where (?:he|she|they) (?:lives?|works?|sleeps?|is|are|will be|parks?)\b|"
        r"\b(?:got|getting|get|found|have|has) (?:me )?(?:his|her|their|the) (?:home )?address\b"
    ),
    "help_request": re.compile(
        r"\b(?:(?:want|trying|need|wanna|how (?:do|can) i) (?:to )?(?:stop|quit|cut down|get better|get clean|"
        r"stay (?:sober|clean|safe)|get help)|(?:get|find|need|seeking|looking for) (?:some |professional )?"
        r"(?:help|support|a therapist|a counsell?or)|how (?:do|can|should) i (?:cope|get through|talk to|tell|"
        r"support|help)|(?:talk|speak) to (?:someone|somebody)|i don'?t want to (?:hurt|feel|do this|keep)|"
        r"please help)\b"
    ),
}

_WRAPPERS: dict[str, re.Pattern[str]] = {
    "fiction": re.compile(
        r"(?:for|in) (?:a|my|the) (?:novel|story|book|screenplay|script|short story|fanfic|fan fiction|game|"
        r"movie|film|play|comic|rp|roleplay|role-play)(?: i'?m writing| i am writing)?[,:]?|"
        r"(?:write|tell) (?:me )?a (?:story|scene|poem) (?:where|in which|about)|in character[,:]?|"
        r"let'?s (?:role-?play|pretend)[,:]?"
    ),
    "hypothetical": re.compile(
        r"hypothetically(?: speaking)?[,:]?|in theory[,:]?|purely (?:academic|theoretical)ly?[,:]?|"
        r"just (?:curious|wondering|asking)[,:]?|for (?:research|educational|academic) purposes(?: only)?[,:]?"
    ),
    "friend": re.compile(r"asking for a friend[,:.]?|(?:it'?s )?for a friend[,:]?"),
    "jailbreak": re.compile(
        r"ignore (?:all |your |any |the )?(?:previous |prior |above )?(?:instructions|rules|guidelines|"
        r"restrictions)[,.:]?|you are (?:now )?(?:dan|an ai without|unrestricted|jailbroken)\b[^.]*[.]?|"
        r"developer mode[^.]*[.]?|no (?:filters|restrictions|rules)[,.]?|(?:do|say) anything now[,.]?|"
        r"my (?:late )?grand(?:ma|mother|pa|father) used to (?:tell|read|explain)[^.,]*[.,]?|"
        r"pretend (?:you are|you're|to be) [^.,]*[.,]?|stay in character[,.]?"
    ),
}

_SEVERITY_FROM_CUES: tuple[tuple[frozenset[str], Severity], ...] = (
    (frozenset({"in_progress"}), Severity.IMMINENT),
    (frozenset({"goodbye"}), Severity.IMMINENT),
    (frozenset({"plan", "means"}), Severity.IMMINENT),
    (frozenset({"plan", "timeframe"}), Severity.IMMINENT),
    (frozenset({"means", "timeframe"}), Severity.IMMINENT),
    (frozenset({"ideation", "timeframe"}), Severity.IMMINENT),
    (frozenset({"target", "means"}), Severity.IMMINENT),
    (frozenset({"target", "timeframe"}), Severity.IMMINENT),
    (frozenset({"plan"}), Severity.HIGH),
    (frozenset({"means"}), Severity.HIGH),
    (frozenset({"ideation"}), Severity.MODERATE),
    (frozenset({"target"}), Severity.MODERATE),
)

_DESCRIPTIONS = {
    "ideation": "a stated wish to die",
    "plan": "plan mentioned",
    "means": "means mentioned",
    "timeframe": "timeframe",
    "goodbye": "goodbye message",
    "in_progress": "harm may be under way",
    "target": "knows where someone is",
    "help_request": "asks for help",
}


@dataclass
class Cues:
    """What the patterns found in one normalized text."""

    found: dict[str, str] = field(default_factory=dict)  # cue kind -> matched words
    wrappers: dict[str, str] = field(default_factory=dict)  # wrapper kind -> matched words
    core: str | None = None  # the text without its wrappers, when any were found

    @property
    def severity_floor(self) -> Severity:
        kinds = set(self.found)
        for needed, severity in _SEVERITY_FROM_CUES:
            if needed <= kinds:
                return severity
        return Severity.NONE

    def signals(self, turn: int | None) -> list[Signal]:
        out = []
        for kind, words in self.found.items():
            label = _DESCRIPTIONS[kind]
            text = f"{label}: {words}" if kind == "timeframe" else f"{label} (\"{words}\")"
            out.append(Signal(kind=kind, text=text, turn=turn))
        for kind, words in self.wrappers.items():
            out.append(Signal(kind=f"wrapper_{kind}", text=f"{kind} framing (\"{words.strip(' ,.:')}\")",
                              turn=turn))
        return out


_QUOTED_WORDS = re.compile(r' \(".*"\)$|(?<=^timeframe): .*$')


def without_words(signal_text: str) -> str:
    """A signal's text without the person's words it quotes: `plan mentioned ("i've decided")` → `plan mentioned`,
    `timeframe: tonight` → `timeframe`. What an audit row keeps when it may not keep text."""
    return _QUOTED_WORDS.sub("", signal_text)


def find_cues(normalized: str) -> Cues:
    """Run every pattern over one normalized text."""
    cues = Cues()
    for kind, pattern in _PATTERNS.items():
        match = pattern.search(normalized)
        if match:
            cues.found[kind] = match.group(0)
    core = normalized
    for kind, pattern in _WRAPPERS.items():
        match = pattern.search(core)
        if match:
            cues.wrappers[kind] = match.group(0)
            core = pattern.sub(" ", core)
    if cues.wrappers:
        core = " ".join(core.split())
        cues.core = core if len(core) >= 8 else None
    return cues
