"""Undo the tricks people use to slip past filters before any scoring happens.

Zero-width characters, homoglyphs, leetspeak, spaced-out letters, stretched words ("sooo") and risk emoji all map to
the plain form, so "k1ll mys3lf", "s u i c i d e", "kіll" (Cyrillic i) and "💊💊" read like the words they stand for. The result is
lower-case; punctuation is kept (it is cheap and sometimes meaningful) but nothing depends on it.
"""

from __future__ import annotations

import re
import unicodedata

#: Messages longer than this are scored on their head and tail only, so scoring time stays bounded.
MAX_SCORED_CHARS = 8_000

_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f\ufe0e\ufe0f"),
    None
)

# Letters from other scripts that look like Latin ones; applied only inside words that also hold Latin letters,
# so genuine Cyrillic or Greek text is left alone.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "к": "k", "м": "m", "т": "t", "н": "h", "в": "b", "ԁ": "d", "ӏ": "l", "ɡ": "g", "ո": "n", "ս": "u",
        "α": "a", "ε": "e", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "κ": "k", "ν": "v", "χ": "x",
        "ı": "i", "ł": "l",
    }
)

# Emoji that carry risk or distress, read as the word people mean by them, so "😭😭🔪" or "💊💊💊 tonight" are
# scored like "crying crying knife" or "pill pill pill tonight". Other emoji stay as they are.
_EMOJI_WORDS = str.maketrans({
    "🔪": " knife ", "🗡": " knife ", "🔫": " gun ", "💣": " bomb ", "🧨": " explosive ", "🪓": " axe ",
    "💊": " pill ", "💉": " needle ", "🩸": " blood ", "🪢": " rope ", "⛓": " chains ", "🪦": " grave ",
    "⚰": " coffin ", "☠": " skull ", "💀": " skull ", "🍺": " beer ", "🍻": " beers ", "🍷": " wine ",
    "🥃": " whisky ", "🍾": " champagne ", "🚬": " cigarette ", "🍄": " mushrooms ", "😭": " crying ",
    "😢": " crying ", "💔": " heartbroken ", "😞": " sad ", "😔": " sad ", "🥀": " wilted ", "🆘": " help ",
})

_CLEAN = {**_INVISIBLE, **_EMOJI_WORDS}  # one pass: invisible characters out, risk emoji to words

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "|": "l", "€": "e"})

_WORD = re.compile(r"\S+")
_LATIN = re.compile(r"[a-z]")
_LEET_WORD = re.compile(r"^[a-z013457@$!|€']*[a-z][a-z013457@$!|€']*$")
_LEET_CHARS = re.compile(r"[013457@$!|€]")
_ORDINAL = re.compile(r"^\d+(st|nd|rd|th|s)$")
# "k i l l", "k.i.l.l", "k-i-l-l", "k*i*l*l": four or more single letters joined by one separator.
_SPACED = re.compile(r"\b[a-z]([ .\-_*·])(?:[a-z]\1){2,}[a-z]\b")
_STRETCH = re.compile(r"([a-z])\1{2,}")


def _fix_word(word: str) -> str:
    if not word.isascii() and _LATIN.search(word):
        word = word.translate(_HOMOGLYPHS)
    if _LEET_CHARS.search(word):
        core = word.strip(".,;:?'\"()").rstrip("!")
        if _LEET_WORD.match(core) and sum(c.isalpha() for c in core) >= 2 and not _ORDINAL.match(core):
            start = word.index(core)
            word = word[:start] + core.translate(_LEET) + word[start + len(core):]
    return word


def bounded(text: str, limit: int = MAX_SCORED_CHARS) -> str:
    """Keep the head and tail of a very long text: the start states the request, the end is the latest word."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + " \n " + text[-half:]


def normalize(text: str) -> str:
    """Canonical lower-case form of a message for scoring and rules."""
    text = bounded(text)
    text = unicodedata.normalize("NFKC", text).translate(_CLEAN).lower()
    text = " ".join(_fix_word(w) for w in _WORD.findall(text))
    text = _SPACED.sub(lambda m: re.sub(r"[ .\-_*·]", "", m.group(0)), text)
    return _STRETCH.sub(r"\1\1", text)
