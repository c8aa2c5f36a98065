"""Static sentence embeddings: a word-piece lookup table distilled once from all-MiniLM-L6-v2.

The table gives the assessor a sense of meaning ("make them jump" near "end their life") that character n-grams
cannot learn from a few thousand examples, at the cost of a dictionary lookup: no torch, no network, microseconds
per message. `psychosafe triage distill` rebuilds the table (it needs the `ml` extra); this module only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMBEDDINGS_DIR = Path(__file__).parent / "model"
VECTORS_FILE = "static_embeddings.npz"
TOKENIZER_FILE = "tokenizer.json"
#: Word pieces read per text: enough for any request; keeps time bounded for huge inputs.
MAX_TOKENS = 512


@dataclass
class StaticEmbeddings:
    vectors: np.ndarray  # (vocabulary, dims) float32
    tokenizer: object  # tokenizers.Tokenizer

    @classmethod
    def load(cls, folder: Path = EMBEDDINGS_DIR) -> StaticEmbeddings:
        from tokenizers import Tokenizer

        with np.load(folder / VECTORS_FILE, allow_pickle=False) as data:
            vectors = data["vectors"].astype(np.float32)
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        return cls(vectors, tokenizer)

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean of the word-piece vectors, L2-normalised; a text without known pieces gives zeros."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):  # type: ignore[attr-defined]
            ids = encoding.ids
            if ids:
                mean = self.vectors[ids].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                out[row] = mean / norm if norm > 0 else mean
        return out
