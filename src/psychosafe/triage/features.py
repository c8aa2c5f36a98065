"""Hashed word and character n-gram features, shared by training and inference.

Hashing (CRC-32 into 2**18 buckets) means there is no vocabulary to ship and the same function serves training
(with scikit-learn) and inference (numpy only), so the shipped model is a few arrays and cold start stays fast.
Character n-grams inside word boundaries carry typos, slang and inflections; word bigrams carry "kill a process"
versus "kill myself"; skip-bigrams (words two or three apart) carry the verb and its target across small words
("poison ... husband" versus "poison ... rats"), which a linear model cannot combine on its own.
"""

from __future__ import annotations

import itertools
import re
import zlib
from functools import lru_cache

import numpy as np

N_FEATURES = 1 << 18
_MASK = N_FEATURES - 1
_TOKEN = re.compile(r"[a-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f]+(?:'[a-z]+)?")


def _h(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & _MASK


@lru_cache(maxsize=200_000)
def _word_features(word: str) -> tuple[int, ...]:
    padded = f" {word} "
    grams = [_h("w:" + word)]
    for n in (3, 4, 5):
        grams.extend(_h("c:" + padded[i : i + n]) for i in range(len(padded) - n + 1))
    return tuple(grams)


@lru_cache(maxsize=400_000)
def _pair_feature(kind: str, first: str, second: str) -> int:
    return _h(f"{kind}:{first} {second}")


def tokens(normalized_text: str) -> list[str]:
    return _TOKEN.findall(normalized_text)


def raw_counts(normalized_text: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices and their log-scaled counts for one normalized text (indices unique, sorted)."""
    words = tokens(normalized_text)
    hashes: list[int] = []
    for word in words:
        hashes.extend(_word_features(word))
    hashes.extend(_pair_feature("b", a, b) for a, b in itertools.pairwise(words))
    hashes.extend(_pair_feature("s", a, b) for gap in (2, 3) for a, b in zip(words, words[gap:], strict=False))
    if not hashes:
        hashes.append(_h("w:<empty>"))
    index, counts = np.unique(np.asarray(hashes, dtype=np.int64), return_counts=True)
    return index, np.log1p(counts).astype(np.float32)


def weighted(index: np.ndarray, values: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Apply inverse document frequencies and L2-normalise, so long and short texts score alike."""
    scaled = values * idf[index]
    norm = float(np.sqrt(np.dot(scaled, scaled)))
    return scaled / norm if norm > 0 else scaled
