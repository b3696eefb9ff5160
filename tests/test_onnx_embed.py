"""The ONNX query route gives the same vectors as sentence-transformers (real model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from assistant.embeddings import LocalEmbeddings
from assistant.model_files import bundled_model_path, weights_sha256
from assistant.onnx_embed import (
    MANIFEST,
    ONNX_FILE,
    OnnxQueryEmbedder,
    default_export_dir,
    export_is_current,
    export_onnx,
    read_manifest,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.slow

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_fa8f81718d3b4c51.txt"

SENTENCES = [
    "What did the Judge require?",
    "Who signed this telegram?",
    "In what year was this sent?",
    "Welles",
    "311.6121 Gorin, M. N./44: Telegram",
    "The Acting Secretary of State to the Ambassador in the Soviet Union (Steinhardt)",
    "Mrs. Habicht arrived at 9 p.m. When did she leave?",
    "Déjà vu — naïve café, Москва, 東京!",
    "x",
    "?",
    # longer than max_seq_length (256 tokens): both routes must truncate at the same place
    "The Judge informed the attorneys that the case would proceed. " * 60,
]


@pytest.fixture(scope="module")
def model_path() -> Path:
    return bundled_model_path()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, model_path, cache_dir) -> Path:
    return export_onnx(model_path, default_export_dir(tmp_path_factory.mktemp("index")), cache_dir=cache_dir)


@pytest.fixture(scope="module")
def reference(model_path):
    """sentence-transformers vectors, the route the index is built with."""
    return LocalEmbeddings(model_path)


def _cosines(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_export_has_model_files_and_manifest(export_dir, model_path):
    meta = read_manifest(export_dir)
    assert meta["weights_sha256"] == weights_sha256(model_path)
    assert meta["pooling"] == "mean" and meta["normalize"] is True and meta["max_seq_length"] == 256
    assert (export_dir / ONNX_FILE).stat().st_size > 50_000_000  # weights are inside, not external data
    assert export_is_current(export_dir, meta["weights_sha256"])


def test_single_queries_match_sentence_transformers(export_dir, reference):
    onnx = OnnxQueryEmbedder(export_dir)
    texts = SENTENCES + [SEED.read_text(encoding="utf-8")]
    ours = [onnx.embed_query(t) for t in texts]
    theirs = [reference.embed_query(t) for t in texts]
    cos = _cosines(ours, theirs)
    assert cos.min() >= 0.9999, dict(zip(texts, cos.round(6)))
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert len(ours[0]) == 384


def test_padded_batches_match_sentence_transformers(export_dir, reference):
    """Batches mix lengths, so most rows are padded: the mask must keep padding out of the mean."""
    onnx = OnnxQueryEmbedder(export_dir)
    texts = SENTENCES + [s for s in SEED.read_text(encoding="utf-8").split("\n") if s.strip()]
    ours = onnx.embed_documents(texts, batch_size=7)
    theirs = reference.embed_documents(texts)
    assert _cosines(ours, theirs).min() >= 0.9999
    # order is kept although batches are formed by length
    assert _cosines(ours, [onnx.embed_query(t) for t in texts]).min() >= 0.99999


def test_export_is_idempotent_and_follows_the_weights(export_dir, model_path, tmp_path):
    before = (export_dir / ONNX_FILE).stat().st_mtime_ns
    export_onnx(model_path, export_dir, cache_dir=None)
    assert (export_dir / ONNX_FILE).stat().st_mtime_ns == before  # nothing re-exported

    other = tmp_path / "onnx"
    shutil.copytree(export_dir, other)
    meta = json.loads((other / MANIFEST).read_text())
    meta["weights_sha256"] = "0" * 64  # as if made from other weights
    (other / MANIFEST).write_text(json.dumps(meta))
    real = weights_sha256(model_path)
    assert OnnxQueryEmbedder.open(other, real) is None
    export_onnx(model_path, other, weights_sha256=real, cache_dir=None)
    assert read_manifest(other)["weights_sha256"] == real
    assert OnnxQueryEmbedder.open(other, real) is not None


def test_missing_or_incomplete_export_is_not_used(export_dir, model_path, tmp_path):
    real = weights_sha256(model_path)
    assert OnnxQueryEmbedder.open(tmp_path / "nothing", real) is None
    partial = tmp_path / "partial"
    shutil.copytree(export_dir, partial)
    (partial / MANIFEST).unlink()  # an export killed before its manifest was written
    assert OnnxQueryEmbedder.open(partial, real) is None
    with pytest.raises(FileNotFoundError):
        OnnxQueryEmbedder(partial)


def _in_fresh_process(code: str) -> dict:
    """Run ``code`` in a new interpreter (so imports start from nothing); its last line is JSON."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_query_route_does_not_import_torch(export_dir):
    code = (
        "import sys, json\n"
        "from assistant.onnx_embed import OnnxQueryEmbedder\n"
        f"v = OnnxQueryEmbedder({str(export_dir)!r}).embed_query('Who signed this telegram?')\n"
        "print(json.dumps({'dim': len(v), 'torch': 'torch' in sys.modules,\n"
        "  'st': 'sentence_transformers' in sys.modules}))\n"
    )
    got = _in_fresh_process(code)
    assert got == {"dim": 384, "torch": False, "st": False}


def test_a_new_index_takes_the_export_from_the_user_cache_without_torch(export_dir, cache_dir, model_path, tmp_path):
    """The first export was published to the cache; another index gets it by hard link."""
    real = weights_sha256(model_path)
    cached = next(cache_dir.glob("onnx-*"))
    assert export_is_current(cached, real)
    new_index = tmp_path / "other-index"
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from assistant.onnx_embed import export_onnx\n"
        f"export_onnx(Path({str(model_path)!r}), Path({str(new_index / 'onnx')!r}), weights_sha256={real!r},\n"
        f"            cache_dir=Path({str(cache_dir)!r}))\n"
        "print(json.dumps({'torch': 'torch' in sys.modules}))\n"
    )
    assert _in_fresh_process(code) == {"torch": False}
    assert export_is_current(new_index / "onnx", real)
    assert (new_index / "onnx" / ONNX_FILE).stat().st_ino == (cached / ONNX_FILE).stat().st_ino


# --- integration: the index makes the export at ingest and answers through it -------------

QUESTIONS = [
    "What did the Judge require?", "Who signed the telegram?", "Who sent this telegram?",
    "What is the telegram number?", "In what year was this sent?", "What crime was Gorin convicted of?",
    "What did the Department take up with Justice?", "Which ambassador received this cable?",
]


def _comparable(answer) -> dict:
    d = answer.to_dict()
    d.pop("timings_ms", None)
    for p in d.get("passages", []):
        for key, value in p.items():
            if isinstance(value, float):
                p[key] = round(value, 4)  # the two routes' vectors differ by ~1e-7
    return d


def test_ingest_exports_and_answers_equal_the_torch_route(telegram_index, monkeypatch):
    from assistant import Assistant

    assert export_is_current(default_export_dir(telegram_index), weights_sha256(bundled_model_path()))
    onnx_bot = Assistant.open(index=telegram_index)
    assert onnx_bot.index.embeddings.onnx is not None
    monkeypatch.setenv("ASSISTANT_EMBEDDINGS", "torch")
    torch_bot = Assistant.open(index=telegram_index)
    assert torch_bot.index.embeddings.onnx is None
    for q in QUESTIONS:
        assert _comparable(onnx_bot.ask(q)) == _comparable(torch_bot.ask(q)), q


def test_cold_ask_does_not_import_torch(telegram_index):
    code = (
        "import sys, json\n"
        "from assistant import Assistant\n"
        f"a = Assistant.open(index={str(telegram_index)!r}).ask('Who signed the telegram?')\n"
        "print(json.dumps({'cited': [c.quote for c in a.citations], 'torch': 'torch' in sys.modules,\n"
        "  'st': 'sentence_transformers' in sys.modules}))\n"
    )
    got = _in_fresh_process(code)
    assert got["torch"] is False and got["st"] is False
    assert any("Welles" in q for q in got["cited"])
