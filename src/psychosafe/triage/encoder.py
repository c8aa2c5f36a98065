"""The fine-tuned encoder beside the linear heads: four transformer layers that read a message in order.

Hashed n-grams see words, not how they relate: "what happened at the school shooting" and "how do I do a school
shooting" share most of them. The first four layers of all-MiniLM-L6-v2, fine-tuned on the corpus with the same
heads as the linear model (`psychosafe triage train`, which needs the `ml` extra), read the sentence as a whole.
It ships int8-quantised as ONNX and runs on onnxruntime: no torch at inference, about a millisecond per
message on one thread. The model file's `meta` says whether a model has one and how much its probabilities weigh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from psychosafe.errors import PsychoSafeError

#: Word pieces read per text: a longer text is read by its first and last halves of this (a request wrapped in
#: a long preamble sits at the end), which also bounds the time a huge input takes.
MAX_TOKENS = 128
#: Texts whose outputs are remembered: a guard re-reads the whole conversation on every turn, so each earlier
#: turn is encoded once, not once per turn.
CACHE_SIZE = 4096


def encoder_paths(model_path: Path) -> tuple[Path, Path]:
    """The ONNX graph and its tokenizer, stored beside the linear model file (`triage.npz` → `triage.onnx`)."""
    return model_path.with_suffix(".onnx"), model_path.with_suffix(".tokenizer.json")


def head_and_tail(ids: list[int]) -> list[int]:
    """All of a text's word-piece ids, or the first and last `MAX_TOKENS // 2` of a long one (training and
    inference read the same pieces)."""
    half = MAX_TOKENS // 2
    return ids if len(ids) <= MAX_TOKENS else ids[:half] + ids[-half:]


@dataclass
class Encoder:
    session: object  # onnxruntime.InferenceSession
    tokenizer: object  # tokenizers.Tokenizer
    cache: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, model_path: Path) -> Encoder:
        import onnxruntime
        from tokenizers import Tokenizer

        graph, vocabulary = encoder_paths(model_path)
        for path in (graph, vocabulary):
            if not path.exists():
                raise PsychoSafeError(f"the triage model at {model_path} needs its encoder file {path}; "
                                      "retrain it with `psychosafe triage train`")
        options = onnxruntime.SessionOptions()
        # One message is too little work to split across threads; a server scales by serving requests in parallel.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(vocabulary))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(session, tokenizer)

    def pieces(self, normalized_text: str) -> list[int]:
        """Word-piece ids the encoder reads (see `head_and_tail`)."""
        return head_and_tail(self.tokenizer.encode(normalized_text).ids)  # type: ignore[attr-defined]

    def logits(self, normalized_texts: list[str]) -> np.ndarray:
        """Raw head outputs, one row per text, in the linear model's column order.

        Each text is encoded on its own: on one thread batches of 1-4 cost the same per text and 32 half as much
        again (padding), and int8 activations are quantised per call, so a text's scores never depend on which
        other texts came with it.
        """
        with self.lock:
            known = {t: self.cache[t] for t in set(normalized_texts) if t in self.cache}
            for text in known:
                self.cache.move_to_end(text)
        fresh = {t: self._run(self.pieces(t)) for t in dict.fromkeys(normalized_texts) if t not in known}
        with self.lock:
            self.cache.update(fresh)
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        known.update(fresh)
        return np.stack([known[t] for t in normalized_texts]) if normalized_texts else np.zeros((0, 0), np.float32)

    def _run(self, pieces: list[int]) -> np.ndarray:
        ids = np.asarray([pieces], dtype=np.int64)
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        return self.session.run(None, inputs)[0][0]  # type: ignore[attr-defined]
