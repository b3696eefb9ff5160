"""Embeddings without torch: an ONNX export of the bundled all-MiniLM-L6-v2.

Why: a cold ``assistant ask`` spent most of its time importing torch and
sentence-transformers (several seconds) only to embed one short question. At ingest time
the same model is exported to ONNX into the index folder (``INDEX/onnx``; torch is needed
for that once per weights hash: the export is also kept in a user cache and hard-linked
into new indexes). Queries, and the ingest's own batches, are then embedded with
onnxruntime + tokenizers: ~0.3 s to import and load, a few ms per question, and about
three times sentence-transformers' throughput on this machine's shared cores.

The exported graph is the whole sentence-transformers pipeline of this model
(``modules.json``: Transformer → mean Pooling → Normalize), so its output is the final,
L2-normalized sentence vector. The tokenizer is the model's own ``tokenizer.json`` with
the model's ``max_seq_length`` (256) instead of the file's fixed 128-token padding and
truncation, as sentence-transformers does. ``tests/test_onnx_embed.py`` checks cosine
≥ 0.9999 against sentence-transformers on the real model.

The export records the SHA-256 of the weights it came from (``manifest.json``); an export
whose weights hash differs from the one the caller expects is not used (and is replaced
by the next ``export_onnx``), so queries are never embedded by another model than the
index's.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from assistant.model_files import weights_sha256 as weights_file_sha256

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
MANIFEST = "manifest.json"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_export_dir(index_dir: str | Path) -> Path:
    """Where the export lives beside an index."""
    return Path(index_dir) / "onnx"


def read_manifest(out_dir: str | Path) -> dict | None:
    try:
        meta = json.loads((Path(out_dir) / MANIFEST).read_text())
    except (OSError, ValueError):  # ValueError: damaged bytes (UnicodeDecodeError, JSONDecodeError)
        return None
    return meta if isinstance(meta, dict) else None


def export_is_current(out_dir: str | Path, weights_sha256: str) -> bool:
    """The export exists, is complete and was made from weights with this hash."""
    out = Path(out_dir)
    meta = read_manifest(out)
    return bool(
        meta
        and meta.get("format") == EXPORT_FORMAT
        and meta.get("weights_sha256") == weights_sha256
        and (out / ONNX_FILE).is_file()
        and (out / TOKENIZER_FILE).is_file()
    )


def export_problem(out_dir: str | Path, weights_sha256: str) -> str | None:
    """Why the export in ``out_dir`` cannot be used for these weights (None: it looks fine)."""
    out = Path(out_dir)
    if not (out / MANIFEST).exists():
        return f"no {MANIFEST}"
    meta = read_manifest(out)
    if not isinstance(meta, dict):
        return f"{MANIFEST} is damaged"
    if meta.get("weights_sha256") != weights_sha256 or meta.get("format") != EXPORT_FORMAT:
        return "made from other weights"
    for name in (ONNX_FILE, TOKENIZER_FILE):
        if not (out / name).is_file():
            return f"no {name}"
    return None


def _pooling_config(model_path: Path) -> tuple[str, bool, int]:
    """(pooling mode, normalize?, max_seq_length) from the sentence-transformers config files."""
    modules = json.loads((model_path / "modules.json").read_text())
    types = [m.get("type", "") for m in modules]
    normalize = any(t.endswith(".Normalize") for t in types)
    pooling_dir = next((m.get("path", "") for m in modules if m.get("type", "").endswith(".Pooling")), None)
    if pooling_dir is None:
        raise ValueError(f"{model_path}: modules.json has no Pooling module")
    pooling = json.loads((model_path / pooling_dir / "config.json").read_text())
    if pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    ):
        mode = "mean"
    elif pooling.get("pooling_mode_cls_token"):
        mode = "cls"
    else:
        raise ValueError(f"{model_path}: unsupported pooling {pooling}")
    max_len = 512
    st_config = model_path / "sentence_bert_config.json"
    if st_config.exists():
        max_len = int(json.loads(st_config.read_text()).get("max_seq_length") or max_len)
    return mode, normalize, max_len


def shared_cache_dir() -> Path:
    """Where one export per weights hash is kept for every index of this user:
    ``ASSISTANT_CACHE_DIR``, else ``$XDG_CACHE_HOME/telegram-assistant`` (``~/.cache/…``)."""
    env = os.environ.get("ASSISTANT_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "telegram-assistant"


class _Default(enum.Enum):
    """The type of ``_DEFAULT``: "not given", distinct from None (which means "no cache")."""

    TOKEN = 0


_DEFAULT = _Default.TOKEN


def export_onnx(model_path: str | Path, out_dir: str | Path, weights_sha256: str | None = None,
                force: bool = False, cache_dir: Path | _Default | None = _DEFAULT) -> Path:
    """Export the sentence-transformers model at ``model_path`` to ``out_dir`` (idempotent).

    Skipped when ``out_dir`` already holds an export of weights with the same hash; copied
    (hard-linked) from ``cache_dir`` (default :func:`shared_cache_dir`, None: no cache) when
    that holds one, so a new index costs no torch import; otherwise exported with torch +
    transformers and then published to the cache. Files are written to a temporary folder
    and moved in place, the manifest last, so a killed export leaves either the old export
    or none, never a half one that is used.
    """
    model_path = Path(model_path)
    out = Path(out_dir)
    if weights_sha256 is None:
        weights_sha256 = weights_file_sha256(model_path)
    if not force and export_is_current(out, weights_sha256):
        return out
    cache_root = shared_cache_dir() if cache_dir is _DEFAULT else cache_dir
    cached = Path(cache_root) / f"onnx-{weights_sha256[:16]}" if cache_root else None
    if not force and cached is not None and export_is_current(cached, weights_sha256):
        try:
            _copy_export(cached, out, weights_sha256)
            return out
        except OSError:
            pass  # an unreadable cache: export afresh below
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=out.parent))
    try:
        _write_export(model_path, tmp, weights_sha256)
        _install(tmp, out, weights_sha256)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if cached is not None:
        with contextlib.suppress(OSError):  # the cache is an optimization only
            _copy_export(out, cached, weights_sha256)
    return out


_PARTIAL = "manifest.partial"


def _install(tmp: Path, out: Path, weights_sha256: str) -> None:
    """Move a complete export folder (manifest still named .partial) into place."""
    if out.exists():
        shutil.rmtree(out)
    try:
        os.replace(tmp, out)
    except OSError:
        # Another process put an export in place meanwhile: keep it if it is current.
        if export_is_current(out, weights_sha256):
            return
        raise
    os.replace(out / _PARTIAL, out / MANIFEST)


def _copy_export(src: Path, dst: Path, weights_sha256: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-copy-", dir=dst.parent))
    try:
        for name in (ONNX_FILE, TOKENIZER_FILE):
            try:
                os.link(src / name, tmp / name)  # same file system: no 90 MB copy
            except OSError:
                shutil.copyfile(src / name, tmp / name)
        shutil.copyfile(src / MANIFEST, tmp / _PARTIAL)
        _install(tmp, dst, weights_sha256)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_export(model_path: Path, tmp: Path, weights_sha256: str) -> None:
    """The export itself (torch): model.onnx, tokenizer.json, manifest.partial in ``tmp``."""
    mode, normalize, max_len = _pooling_config(model_path)

    import torch  # torch + transformers (seconds): only to make an export, never to query
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()  # no "Loading weights" bar on an ingest or a rebuild
    transformers.logging.set_verbosity_error()

    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager", local_files_only=True).eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            if mode == "mean":
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            else:
                pooled = hidden[:, 0]
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled

    wrapper = SentenceEmbedding(model).eval()
    # Example inputs with a padded row, so the traced graph is the general (masked) case.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation/tracer notes
        # The TorchScript exporter (dynamo=False): one self-contained file, no onnxscript.
        torch.onnx.export(
            wrapper, (ids, mask, types), str(tmp / ONNX_FILE), dynamo=False,
            input_names=list(_INPUTS), output_names=["sentence_embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in _INPUTS}, "sentence_embedding": {0: "batch"}},
            opset_version=17, do_constant_folding=True,
        )
    ort_version = _optimize(tmp / ONNX_FILE)
    shutil.copyfile(model_path / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
    meta = {
        "format": EXPORT_FORMAT,
        "weights_sha256": weights_sha256,
        "model_path": str(model_path),
        "pooling": mode,
        "normalize": normalize,
        "max_seq_length": max_len,
        "torch": torch.__version__,
        "onnxruntime_optimized": ort_version,
    }
    (tmp / _PARTIAL).write_text(json.dumps(meta, indent=1))


def _optimize(onnx_file: Path) -> str:
    """Replace the export by onnxruntime's graph-optimized form of it (fused attention and
    layer norms), so loading it later can skip optimization: ~0.1 s less per cold query.
    Extended, not "all": the latter adds layouts specific to this CPU. Returns the version."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    optimized = onnx_file.with_suffix(".optimized.onnx")
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    os.replace(optimized, onnx_file)
    return ort.__version__


class OnnxQueryEmbedder:
    """Sentence vectors from an export made by :func:`export_onnx` (no torch import)."""

    def __init__(self, out_dir: str | Path, threads: int = 1):
        out = Path(out_dir)
        meta = read_manifest(out)
        if not meta or meta.get("format") != EXPORT_FORMAT:
            raise FileNotFoundError(f"no ONNX export in {out}")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.out_dir = out
        self.weights_sha256 = meta["weights_sha256"]
        options = ort.SessionOptions()
        # Two shared cores: one thread keeps single-question latency low and steady.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No busy-waiting worker threads: on shared cores spinning steals the other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        if meta.get("onnxruntime_optimized") == ort.__version__:
            # already optimized at export by this onnxruntime: don't redo it on every load
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(str(out / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(out / TOKENIZER_FILE))
        # sentence-transformers truncates at max_seq_length and pads a batch to its longest.
        self.tokenizer.enable_truncation(max_length=int(meta.get("max_seq_length", 256)))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._feeds = {i.name for i in self.session.get_inputs()}

    @classmethod
    def open(cls, out_dir: str | Path, weights_sha256: str, threads: int = 1) -> OnnxQueryEmbedder | None:
        """The embedder if a current export for these weights exists, else None."""
        if not export_is_current(out_dir, weights_sha256):
            return None
        try:
            return cls(out_dir, threads=threads)
        # A damaged export: fall back to the torch route. Besides OSError and a bad manifest, onnxruntime
        # and tokenizers raise their own exception types (tokenizers a bare Exception), so catch them all.
        except Exception as exc:  # noqa: BLE001
            log.info("the ONNX export in %s could not be loaded (%s: %s); using the torch model",
                        out_dir, type(exc).__name__, exc)
            return None

    def embed(self, texts: list[str]):
        """float32 array (len(texts), dim) of L2-normalized vectors."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {k: v for k, v in arrays.items() if k in self._feeds})[0]

    def embed_documents(self, texts: list[str], batch_size: int = 8) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        # Sorted by length so each batch pads little (as sentence-transformers does); small
        # batches: measured fastest on 2 shared cores (8: ~35k chars/s, 32: ~23k, 1 thread).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result: list[list[float] | None] = [None] * len(texts)
        for j in range(0, len(order), batch_size):
            part = order[j : j + batch_size]
            for i, v in zip(part, self.embed([texts[i] for i in part]).tolist()):
                result[i] = v
        return result  # type: ignore[return-value]

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()
