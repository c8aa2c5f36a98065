"""Find the phone numbers, text short codes, web addresses and email addresses a text offers to its reader.

This is what lets the verifier catch an invented or stale helpline in a model's reply. Long phone-shaped digit
runs always count. Short runs (3-6 digits) count only where the text presents them as something to call or text
(a nearby "call", "text", "helpline", "on 116 123", a "+" or "#", phone-style grouping), so that years, prices,
times, doses and counts are left alone. Emails and web addresses are found first and blanked out, so "988" in
"988lifeline.org" is not read as a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from psychosafe.resources.iso import COUNTRY_CODES
from psychosafe.resources.phones import normalize_number
from psychosafe.types import ContactKind


class ContactFinding(BaseModel):
    """One contact in a text: `normalized` is digits (phones), the host without "www." (URLs) or lower case."""

    model_config = ConfigDict(frozen=True)

    kind: ContactKind  # PHONE, TEXT, URL or EMAIL
    raw: str
    normalized: str
    start: int
    end: int

    @property
    def vanity(self) -> bool:
        """Written with keypad letters ("1800RESPECT"), which may spell more digits than the number has."""
        return self.kind in (ContactKind.PHONE, ContactKind.TEXT) and any(c.isalpha() for c in self.raw)


# --------------------------------------------------------------------------------------------- emails and URLs

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_TLDS = sorted(
    {c.lower() for c in COUNTRY_CODES} | {"uk", "eu", "com", "org", "net", "gov", "edu", "int", "info", "io",
                                          "app", "online", "help", "care", "health", "support", "biz"},
    key=len,
    reverse=True,
)
_URL = re.compile(
    r"\bhttps?://[^\s<>\"'()\[\]]+"
    r"|\bwww\.[^\s<>\"'()\[\]]+"
    # A bare host needs a known, lower-case top-level domain, so "e.g." and "end.It" are not addresses.
    r"|(?<![\w@.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+(?:" + "|".join(_TLDS) + r")(?![\w-])"
    r"(?:/[^\s<>\"'()\[\]]*)?"
)
_TRAILING = ".,;:!?'\"…"


def url_host(url: str) -> str:
    """The host, lower case, without "www.": "https://www.Samaritans.org/how-we-can-help" -> "samaritans.org"."""
    host = re.sub(r"^[a-z]+://", "", url.strip(), flags=re.IGNORECASE).split("/")[0].split(":")[0]
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


# --------------------------------------------------------------------------------------------- numbers

# Keypad words: "1-800-799-SAFE", "1800RESPECT", "1-800-HELP-NOW". Upper-case letters, joined without a space.
_VANITY = re.compile(r"(?<![\w+])\+?\d[\d.-]*[-.]?[A-Z]{3,}(?:-[A-Z]{2,})*(?![A-Za-z0-9])")
_RUN = re.compile(r"(?<![\w])[+#(]?\d(?:\d|\((?=\d)|\)|[ \u00a0.-](?=\d|\(\d))*")

# Day-month-year dates; "call 13-11-14" is still a number (Australia's Lifeline), so a verb before wins.
_DATE = re.compile(r"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])[./-](?:0?[1-9]|1[0-2])[./-](?:\d{4}|\d{2})(?![\d.])")
# Spans that hold digits but are never contacts: ISO dates, year ranges, "24/7", fractions and dates with
# slashes, clock times. "999/112" is not among them: it is two numbers.
_NOT_CONTACTS = re.compile(
    r"(?<!\d)(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)"
    r"|(?<!\d)(?<!\d[-. ])(?:19|20)\d\d ?[-–—] ?(?:(?:19|20)\d\d|\d\d)(?![-.]?\d)"
    r"|(?<![\d/])\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/])"
    r"|(?<![\d.])\d{1,2}[:.]\d{2}(?!\d|[.:]\d)"
)

_CALL_WORDS = r"call\w*|phon\w*|ring\w*|dial\w*|contact\w*|reach|tel|telephone|freephone|tty"
_TEXT_WORDS = r"text\w*|sms|whats\s?app|message"
_FOREIGN_WORDS = (
    r"appel\w*|compos\w*|llam\w*|marca\w*|chiam\w*|anruf\w*|ruf\w*|wähl\w*|bel|ligue|ligar|disque"
)
_VERB = re.compile(rf"^(?:{_CALL_WORDS}|{_TEXT_WORDS}|{_FOREIGN_WORDS})$")
_TEXTING = re.compile(rf"^(?:{_TEXT_WORDS})$")
_LINE_NOUN = re.compile(
    r"^(?:(?:life|help|hot|crisis|phone|text|support|advice|info)?line|number|nummer|numéro|número|numero|"
    r"telefono|teléfono|téléphone|telefon|sms|whatsapp|text)$"
)
_FILLER = {"on", "at", "to", "is", "the", "a", "free", "or", "and", "me", "us", "them", "via", "le", "la", "el",
           "al", "il", "lo", "de", "der", "die", "das", ":", "-", "–", "—"}
_WEAK = {"on", "at", ":", "-", "–", "—"}  # "Samaritans on 116 123", "Samaritans: 116 123"
_DASHES = {"-", "–", "—"}
_UNITS = set(
    """
    year years yr yrs y month months week weeks day days hour hours hr hrs h minute minutes min mins second
    seconds sec secs mg mcg µg ug g gr gram grams kg lb lbs pound pounds ml cl l litre litres liter liters oz
    unit units drink drinks pill pills tablet tablets dose doses time times people persons person personnes
    personas persone menschen patients users calls callers texts messages cases deaths words pages km mile
    miles m cm mm ft feet inch inches percent per pct dollar dollars euro euros pence p cents rupees rand yen
    kr am pm st nd rd th bpm kcal calories steps volunteers members countries languages centres centers staff
    children women men k x usd eur gbp inr aud cad nzd
    """.split()
)
_CURRENCY = "£$€¥₹"
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|[:\-–—]")
_CLAUSE_END = re.compile(r"[!?;\n]|\.\s")
# Between two numbers of one list ("999 or 112", "999 / 112"): the second is a contact like the first.
_LIST_JOIN = re.compile(r"[\s,/·|]*(?:or|and|oder|und|ou|et|o|y|of|eller|og)?[\s,/·|]*", re.IGNORECASE)
_WINDOW_CHARS = 80
_WINDOW_WORDS = 6


def find_contacts(text: str) -> list[ContactFinding]:
    """Every contact offered in `text`, in order of appearance."""
    findings: list[ContactFinding] = []
    masked = text
    for finding in _emails(text):
        findings.append(finding)
        masked = _blank(masked, finding.start, finding.end)
    for finding in _urls(masked, text):
        findings.append(finding)
        masked = _blank(masked, finding.start, finding.end)
    for match in _VANITY.finditer(masked):
        letters = re.sub(r"[^A-Z]", "", match.group())
        digits = re.sub(r"\D", "", match.group())
        if len(digits) >= 4 and len(digits) + len(letters) >= 10:
            findings.append(_number(text, masked, match.start(), match.end()))
            masked = _blank(masked, match.start(), match.end())
    for match in _DATE.finditer(masked):
        if not _called(masked, match.start()):
            masked = _blank(masked, match.start(), match.end())
    for match in _NOT_CONTACTS.finditer(masked):
        masked = _blank(masked, match.start(), match.end())
    previous_end = -1
    for start, end in _runs(masked):
        listed = previous_end >= 0 and _LIST_JOIN.fullmatch(masked, previous_end, start) is not None
        if _is_contact(masked, start, end, listed):
            findings.append(_number(text, masked, start, end))
            previous_end = end
    return sorted(findings, key=lambda f: f.start)


def _emails(text: str) -> Iterator[ContactFinding]:
    for match in _EMAIL.finditer(text):
        yield ContactFinding(kind=ContactKind.EMAIL, raw=match.group(), normalized=match.group().lower(),
                             start=match.start(), end=match.end())


def _urls(masked: str, text: str) -> Iterator[ContactFinding]:
    for match in _URL.finditer(masked):
        raw = match.group().rstrip(_TRAILING)
        if not raw or "." not in url_host(raw):
            continue
        yield ContactFinding(kind=ContactKind.URL, raw=text[match.start() : match.start() + len(raw)],
                             normalized=url_host(raw), start=match.start(), end=match.start() + len(raw))


def _runs(masked: str) -> Iterator[tuple[int, int]]:
    """Digit runs with phone punctuation, without brackets that belong to the sentence."""
    for match in _RUN.finditer(masked):
        start, end = match.span()
        opening, closing = masked.count("(", start, end), masked.count(")", start, end)
        if masked[start] == "(" and masked[end - 1] == ")" and opening == 1:
            start, end = start + 1, end - 1  # "(116 123)"
        elif masked[start] == "(" and opening > closing:
            start += 1
        elif masked[end - 1] == ")" and closing > opening:
            end -= 1
        yield start, end


def _number(text: str, masked: str, start: int, end: int) -> ContactFinding:
    raw = text[start:end]
    kind = ContactKind.TEXT if _texting(masked, start) else ContactKind.PHONE
    return ContactFinding(kind=kind, raw=raw, normalized=normalize_number(raw), start=start, end=end)


def _texting(masked: str, start: int) -> bool:
    """Whether the closest contact verb before the number is a texting one ("call or text 988": texting)."""
    for word in reversed(_words_before(masked, start)):
        if _VERB.match(word):
            return bool(_TEXTING.match(word))
    return False


def _is_contact(masked: str, start: int, end: int, listed: bool) -> bool:
    """Whether the digit run at start:end is offered as a number to call or text (`listed`: it follows one)."""
    raw = masked[start:end]
    digits = re.sub(r"\D", "", raw)
    groups = re.findall(r"\d+", raw)
    before = _words_before(masked, start)
    after = _word_after(masked, end)
    previous = _previous_meaningful(before)
    called = listed or _called(masked, start)
    if _priced_or_counted(masked, start, end, after):
        return False
    if len(digits) >= 7:
        return True
    if len(digits) <= 2:
        return len(digits) == 2 and called
    if len(groups) == 1 and len(digits) == 4 and digits[:2] in ("19", "20"):  # looks like a year
        return called or (previous is not None and bool(_LINE_NOUN.match(previous)))
    return (
        called
        or raw[0] in "+#"
        or masked[start - 1 : start] == "("
        or len(groups) >= 3
        or (len(groups) == 2 and re.fullmatch(r"\d+[ \u00a0]\d+", raw) is not None)
        or any(_VERB.match(word) for word in before)
        or _weak_context(before)
        or (previous is not None and bool(_LINE_NOUN.match(previous)))
        or (after is not None and bool(_LINE_NOUN.match(after)))
    )


def _weak_context(before: list[str]) -> bool:
    """An "on", "at" or ":" right before the number; a dash only after a name ("Samaritans - 116 123")."""
    if not before or before[-1] not in _WEAK:
        return False
    return before[-1] not in _DASHES or len(before) >= 2


def _priced_or_counted(masked: str, start: int, end: int, after: str | None) -> bool:
    """A price ("£300"), a part of a bigger number ("1,000"), a percentage or a quantity ("200 mg")."""
    head, next_char = masked[max(0, start - 2) : start], masked[end : end + 2].lstrip()[:1]
    if head[-1:] and head[-1] in _CURRENCY:
        return True
    if len(head) == 2 and head[1] in ",." and head[0].isdigit():
        return True
    if next_char and next_char in _CURRENCY + "%°":
        return True
    return after is not None and after in _UNITS


def _words_before(masked: str, start: int) -> list[str]:
    """The last few words of the clause before `start`, lower case, digits left out."""
    window = masked[max(0, start - _WINDOW_CHARS) : start]
    ends = list(_CLAUSE_END.finditer(window))
    if ends:
        window = window[ends[-1].end() :]
    return [w.lower() for w in _WORD.findall(window)][-_WINDOW_WORDS:]


def _called(masked: str, start: int) -> bool:
    """Whether the word before `start` (skipping "on", "the", ...) is a verb such as "call" or "text"."""
    previous = _previous_meaningful(_words_before(masked, start))
    return previous is not None and bool(_VERB.match(previous))


def _previous_meaningful(words: list[str]) -> str | None:
    for word in reversed(words):
        if word not in _FILLER:
            return word
    return None


def _word_after(masked: str, end: int) -> str | None:
    match = re.match(r"[ \u00a0]*([^\W\d_]+)", masked[end : end + 20])
    return match.group(1).lower() if match else None


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]
