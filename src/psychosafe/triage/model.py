"""The embedded triage model: linear heads over hashed n-grams and static embeddings, stored as arrays.

Domain scores are factorised: P(domain) = P(any risk domain) x P(domain | a risk domain is present). The first
head learns "is this about one of the five domains at all" from every labelled row at once, so phrasing that is
rare within one domain still counts; the five conditional heads only have to tell the domains apart and never see
the benign look-alikes. Both are calibrated with Platt scaling (0.7 means about seven in ten). Beside them,
softmax distributions over intent, severity and role. Inputs: hashed word and character n-grams (the exact words
and their misspellings) beside a static sentence embedding (what the words mean). The file is a compressed `.npz`
of numbers plus a JSON header; it loads without pickle in a few tens of milliseconds and scores with numpy.
A fine-tuned encoder with the same heads (`triage.encoder`) reads word order; when the model has one, every
probability is the weighted mean of the two, the weight chosen on the held-out split (`meta["encoder_weight"]`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from psychosafe.errors import PsychoSafeError
from psychosafe.triage.embeddings import StaticEmbeddings
from psychosafe.triage.encoder import Encoder
from psychosafe.triage.features import N_FEATURES, raw_counts, weighted
from psychosafe.types import Domain, Intent, Role, Severity

MODEL_PATH = Path(__file__).parent / "model" / "triage.npz"

HEADS: dict[str, tuple[str, ...]] = {
    "risk": ("any_domain",),
    "domain": tuple(d.value for d in Domain),
    "intent": tuple(i.value for i in Intent),
    "severity": tuple(s.value for s in Severity),
    "role": tuple(r.value for r in Role),
}


def _head_slices() -> dict[str, slice]:
    slices, start = {}, 0
    for name, labels in HEADS.items():
        slices[name] = slice(start, start + len(labels))
        start += len(labels)
    return slices


HEAD_SLICES = _head_slices()
N_OUTPUTS = sum(len(v) for v in HEADS.values())
#: The leading outputs that are calibrated sigmoids: the risk head and the five conditional domain heads.
CALIBRATED = HEAD_SLICES["domain"].stop


@dataclass
class Scores:
    """Per-text probabilities, one row per text, columns in `HEADS` order."""

    risk: np.ndarray  # P(any risk domain), one value per text
    domain: np.ndarray  # P(domain) = risk x P(domain | risk)
    intent: np.ndarray
    severity: np.ndarray
    role: np.ndarray


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def probabilities(z: np.ndarray, calibration: np.ndarray | None = None) -> Scores:
    """Head outputs (one row per text, `HEADS` order) to probabilities; `calibration` = Platt slope, intercept."""
    calibrated = z[:, :CALIBRATED]
    if calibration is not None:
        calibrated = calibrated * calibration[:, 0] + calibration[:, 1]
    probability = 1.0 / (1.0 + np.exp(-calibrated))
    risk = probability[:, HEAD_SLICES["risk"].start]
    return Scores(
        risk=risk,
        domain=risk[:, None] * probability[:, HEAD_SLICES["domain"]],
        intent=_softmax(z[:, HEAD_SLICES["intent"]]),
        severity=_softmax(z[:, HEAD_SLICES["severity"]]),
        role=_softmax(z[:, HEAD_SLICES["role"]]),
    )


def blend(first: Scores, second: Scores, weight: float) -> Scores:
    """(1 - weight) x first + weight x second, head by head."""
    return Scores(**{f.name: (1 - weight) * getattr(first, f.name) + weight * getattr(second, f.name)
                     for f in fields(Scores)})


@dataclass
class TriageModel:
    idf: np.ndarray  # (N_FEATURES,) float32
    weights: np.ndarray  # (N_FEATURES, N_OUTPUTS) float32
    bias: np.ndarray  # (N_OUTPUTS,) float32
    calibration: np.ndarray  # (1 + n_domains, 2): Platt slope and intercept, risk head then each domain
    embeddings: StaticEmbeddings
    embedding_weights: np.ndarray  # (dims, N_OUTPUTS) float32, applied to the scaled sentence embedding
    embedding_scale: float = 1.0
    meta: dict = field(default_factory=dict)
    encoder: Encoder | None = None

    @property
    def encoder_weight(self) -> float:
        return float(self.meta.get("encoder_weight", 0.0)) if self.encoder is not None else 0.0

    def logits(self, normalized_texts: list[str]) -> np.ndarray:
        rows = [raw_counts(t) for t in normalized_texts]
        index = np.concatenate([r[0] for r in rows])
        values = np.concatenate([weighted(r[0], r[1], self.idf) for r in rows])
        starts = np.cumsum([0] + [len(r[0]) for r in rows[:-1]])
        contributions = self.weights[index] * values[:, None]
        ngram = np.add.reduceat(contributions, starts, axis=0)
        meaning = (self.embeddings.embed(normalized_texts) * self.embedding_scale) @ self.embedding_weights
        return ngram + meaning + self.bias

    def score(self, normalized_texts: list[str]) -> Scores:
        """Probabilities for each text (texts already normalized; see `triage.normalize`)."""
        if not normalized_texts:
            empty = np.zeros((0, 1), dtype=np.float32)
            return Scores(np.zeros(0, dtype=np.float32), empty, empty, empty, empty)
        scores = probabilities(self.logits(normalized_texts), self.calibration)
        if self.encoder is not None and self.encoder_weight > 0:
            scores = blend(scores, probabilities(self.encoder.logits(normalized_texts)), self.encoder_weight)
        return scores

    # ------------------------------------------------------------------------------------------ storage

    def save(self, path: Path) -> None:
        """Store only the rows of the weight matrix that are used: the file stays a few megabytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        used = np.flatnonzero(np.any(self.weights != 0, axis=1)).astype(np.int32)
        np.savez_compressed(
            path,
            used=used,
            weights=self.weights[used].astype(np.float32),
            idf=self.idf.astype(np.float32),
            bias=self.bias.astype(np.float32),
            calibration=self.calibration.astype(np.float32),
            embedding_weights=self.embedding_weights.astype(np.float32),
            embedding_scale=np.float32(self.embedding_scale),
            meta=np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> TriageModel:
        if not path.exists():
            raise PsychoSafeError(
                f"triage model not found at {path}; train it with `psychosafe triage train`"
            )
        with np.load(path, allow_pickle=False) as data:
            if data["weights"].shape[1] != N_OUTPUTS:
                raise PsychoSafeError(f"triage model at {path} was made by an older version of psychosafe; "
                                      "retrain it with `psychosafe triage train`")
            weights = np.zeros((N_FEATURES, N_OUTPUTS), dtype=np.float32)
            weights[data["used"]] = data["weights"]
            meta = json.loads(bytes(data["meta"]).decode())
            return cls(
                idf=data["idf"].copy(),
                weights=weights,
                bias=data["bias"].copy(),
                calibration=data["calibration"].copy(),
                embeddings=StaticEmbeddings.load(),
                embedding_weights=data["embedding_weights"].copy(),
                embedding_scale=float(data["embedding_scale"]),
                meta=meta,
                encoder=Encoder.load(path) if meta.get("encoder_weight") else None,
            )
