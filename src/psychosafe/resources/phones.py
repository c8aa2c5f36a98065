"""Phone numbers as comparable keys, whatever shape they were written in.

"+44 808 2000 247", "0808 2000 247" and "+44 (0)808 2000 247" are one number in the UK; "1-800-799-SAFE" is
1-800-799-7233; "(800) 799-7233" is the same number without the US trunk prefix. A number is first normalized
to its digits (international ones keep a "+"), then turned into keys within one country's dial plan, and two
numbers match when their keys meet.
"""

from __future__ import annotations

from dataclasses import dataclass

_KEYPAD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "22233344455566677778889999")

#: Digits after "00" for it to be read as an international prefix, not a short code such as Australia's 000.
_MIN_INTERNATIONAL_DIGITS = 9
#: A trunk prefix is only dropped from numbers this long after it, so short codes stay as they are.
_MIN_NATIONAL_DIGITS = 6


def normalize_number(raw: str) -> str:
    """Digits of `raw` with keypad letters converted; "+" for international numbers, "#" kept for "#8008"."""
    text = raw.strip()
    international = text.startswith(("+", "00"))
    if international:
        text = text.replace("(0)", "")  # "+44 (0)20 ...": the trunk 0 is not dialled from abroad
    digits = "".join(ch for ch in text.upper().translate(_KEYPAD) if ch.isdigit())
    if text.startswith("+"):
        return "+" + digits
    if text.startswith("00") and len(digits) - 2 >= _MIN_INTERNATIONAL_DIGITS:
        return "+" + digits[2:]
    if text.startswith("#"):
        return "#" + digits
    return digits


@dataclass(frozen=True)
class DialPlan:
    """What is needed to compare numbers within one country."""

    calling_code: str | None  # "44"; None for the international file
    trunk_prefix: str | None  # "0", "1" (US, Canada) or None (Spain, Italy, Denmark, Mexico)

    def keys(self, normalized: str) -> frozenset[str]:
        """National forms of a normalized number, with and without the trunk prefix."""
        if normalized.startswith("+"):
            digits = normalized[1:]
            if not self.calling_code or not digits.startswith(self.calling_code):
                return frozenset({normalized})  # another country's number stays international
            national = digits[len(self.calling_code) :]
            return frozenset({national, self.trunk_prefix + national} if self.trunk_prefix else {national})
        trunk = self.trunk_prefix
        if trunk and normalized.startswith(trunk) and len(normalized) - len(trunk) >= _MIN_NATIONAL_DIGITS:
            return frozenset({normalized, normalized[len(trunk) :]})
        return frozenset({normalized})
