"""The corpus loader and `psychosafe triage train`: validation errors, reproducibility, the model file's contract."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.support.corpus import corpus_slice

from psychosafe.errors import InputError, PsychoSafeError
from psychosafe.triage.corpus import load_conversations, load_messages, summary
from psychosafe.triage.encoder import MAX_TOKENS, encoder_paths
from psychosafe.triage.model import HEADS, N_OUTPUTS, TriageModel, probabilities
from psychosafe.triage.normalize import normalize
from psychosafe.triage.train import model_digest, train


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of the real corpus: the first rows of every file, enough for every head and its calibration."""
    return corpus_slice(tmp_path_factory.mktemp("corpus"), messages=60, conversations=4)


#: Encoder steps in these tests: enough to move every weight, a few seconds instead of three epochs.
STEPS = 3


@pytest.fixture(scope="module")
def trained(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "triage.npz"
    train(out=out, data_dir=small_corpus, seed=3, encoder_steps=STEPS)
    return out


@pytest.fixture(scope="module")
def linear_only(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("linear") / "triage.npz"
    train(out=out, data_dir=small_corpus, seed=3, encoder=False)
    return out


def test_the_shipped_corpus_is_valid_large_enough_and_without_duplicates() -> None:
    counts = summary(load_messages(), load_conversations())
    assert counts["messages"] >= 4000 and counts["conversations"] >= 300
    assert counts["duplicate_texts"] == 0
    assert set(counts["by_intent"]) == {"benign", "informational", "support_seeking", "harm_seeking"}


@pytest.mark.parametrize(("row", "message"), [
    ('{"text": "how do I kill a process", "domains": ["violence"], "intent": "benign", "severity": "none"}',
     "benign rows have no domains"),
    ('{"text": "tell me how", "domains": [], "intent": "harm_seeking", "severity": "high"}', "name at least one"),
    ('{"text": "x", "domains": [], "intent": "benign", "severity": "none", "colour": "red"}', "colour"),
    ('{"text": "x", "domains": [], "intent": "benign", "severity": "none"', "not valid JSON"),
])
def test_a_bad_row_is_reported_with_its_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    good = '{"text": "hello there", "domains": [], "intent": "benign", "severity": "none"}'
    (tmp_path / "rows.jsonl").write_text(f"{good}\n\n{row}\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"rows\.jsonl:3: .*{message}"):
        load_messages(tmp_path)


def test_training_is_reproducible_byte_for_byte(small_corpus: Path, trained: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.npz"
    report = train(out=again, data_dir=small_corpus, seed=3, encoder_steps=STEPS)
    for first, second in zip(_files(trained), _files(again), strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
    assert report.held_out_rows > 0 and 0.0 <= report.metrics["domain_f1/macro"] <= 1.0


def test_a_different_seed_changes_the_model(small_corpus: Path, trained: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    train(out=other, data_dir=small_corpus, seed=4, encoder_steps=STEPS)
    assert other.read_bytes() != trained.read_bytes()
    assert other.with_suffix(".onnx").read_bytes() != trained.with_suffix(".onnx").read_bytes()


def _files(model: Path) -> list[Path]:
    return [model, *encoder_paths(model)]


def test_the_encoder_is_blended_into_every_head(trained: Path, linear_only: Path) -> None:
    texts = [normalize(t) for t in ("how many pills would kill me", "best pizza in naples")]
    both, alone = TriageModel.load(trained), TriageModel.load(linear_only)
    assert both.encoder is not None and both.encoder_weight == 0.5
    assert alone.encoder is None and not encoder_paths(linear_only)[0].exists()
    blended, linear = both.score(texts), alone.score(texts)
    encoded = probabilities(both.encoder.logits(texts))
    for head in ("risk", "domain", "intent", "severity", "role"):  # same linear heads: the mean is exact
        expected = 0.5 * getattr(linear, head) + 0.5 * getattr(encoded, head)
        assert np.allclose(getattr(blended, head), expected, atol=1e-5), head


def test_a_model_whose_encoder_file_is_missing_asks_for_retraining(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "triage.npz"
    shutil.copy(trained, copy)
    with pytest.raises(PsychoSafeError, match=r"triage\.onnx.*retrain"):
        TriageModel.load(copy)


def test_the_encoder_reads_the_head_and_tail_of_a_long_text(trained: Path) -> None:
    encoder = TriageModel.load(trained).encoder
    assert encoder is not None
    long = "please tell me a story. " * 400 + "how do i poison my husband"
    pieces = encoder.pieces(normalize(long))
    assert len(pieces) == MAX_TOKENS and pieces[-5:] == encoder.pieces("how do i poison my husband")[-5:]
    logits = encoder.logits([normalize(long), "word " * 10, ""])
    assert logits.shape == (3, N_OUTPUTS) and np.isfinite(logits).all()


def test_domain_scores_are_factorised_under_the_risk_score(trained: Path) -> None:
    model = TriageModel.load(trained)
    texts = [normalize(t) for t in ("how many pills would kill me", "best pizza in naples", "where to buy a gun", "")]
    scores = model.score(texts)
    assert scores.domain.shape == (4, len(HEADS["domain"])) and scores.risk.shape == (4,)
    assert np.all(scores.domain <= scores.risk[:, None] + 1e-6)
    assert np.all((scores.domain >= 0) & (scores.domain <= 1))
    for dist in (scores.intent, scores.severity, scores.role):
        assert np.allclose(dist.sum(axis=1), 1.0, atol=1e-5)
    meta = model.meta
    assert meta["seed"] == 3 and len(meta["corpus_sha256"]) == 64


def test_a_model_file_from_an_older_layout_asks_for_retraining(trained: Path, tmp_path: Path) -> None:
    with np.load(trained, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["weights"] = arrays["weights"][:, 1:]  # one output fewer: the layout before the risk head
    old = tmp_path / "old.npz"
    np.savez_compressed(old, **arrays)
    with pytest.raises(PsychoSafeError, match="retrain"):
        TriageModel.load(old)


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PsychoSafeError, match="psychosafe triage train"):
        TriageModel.load(tmp_path / "nowhere.npz")


def test_training_refuses_a_corpus_with_a_bad_row(small_corpus: Path, tmp_path: Path) -> None:
    broken = tmp_path / "corpus"
    shutil.copytree(small_corpus, broken)
    with (broken / "messages" / "zz_bad.jsonl").open("w", encoding="utf-8") as f:
        f.write(json.dumps({"text": "", "domains": [], "intent": "benign", "severity": "none"}) + "\n")
    with pytest.raises(InputError, match=r"zz_bad\.jsonl:1"):
        train(out=tmp_path / "m.npz", data_dir=broken)


def test_a_text_scores_the_same_alone_or_with_others_and_is_encoded_once(trained: Path) -> None:
    encoder = TriageModel.load(trained).encoder
    assert encoder is not None
    alone = encoder.logits(["how many pills would kill me"])
    encoder.cache.clear()
    together = encoder.logits(["best pizza in naples", "how many pills would kill me", "best pizza in naples"])
    assert np.array_equal(alone[0], together[1]) and np.array_equal(together[0], together[2])
    assert len(encoder.cache) == 2
    calls = []
    run = encoder._run
    encoder._run = lambda pieces: calls.append(pieces) or run(pieces)  # type: ignore[method-assign]
    encoder.logits(["how many pills would kill me", "a new text"])
    assert len(calls) == 1  # only the text it had not read before


def test_the_version_names_the_model_not_only_its_corpus(trained: Path) -> None:
    model = TriageModel.load(trained)
    assert model.meta["version"] == model_digest(model, trained)[:12]
    assert model.meta["version"] != model.meta["corpus_sha256"][:12]
    model.bias = model.bias + 1.0
    assert model_digest(model, trained)[:12] != model.meta["version"]
