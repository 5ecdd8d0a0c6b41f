"""Both embedding backends: the local model from the wheel, and OpenAI over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from django.test import override_settings

from knowledge.embeddings import EmbeddingError, _backend, get_backend
from tests.support.openai_server import FakeOpenAI, fake_openai_server


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as server:
        yield server
    _backend.cache_clear()


def test_local_backend_is_offline_normalised_and_loaded_once() -> None:
    backend = get_backend()
    assert backend.model_id == "local/all-MiniLM-L6-v2"
    vectors = backend.embed(["card dispute time limit", "card dispute time limit", "mortgage"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.9
    assert get_backend() is backend
    assert backend.embed([]).shape == (0, 384)


def test_openai_backend_batches_and_keeps_order(openai_server: FakeOpenAI) -> None:
    with override_settings(
        EMBEDDING_BACKEND="openai",
        EMBEDDING_MODEL="text-embedding-3-small",
        EMBEDDING_DIMENSIONS=16,
        EMBEDDING_BATCH_SIZE=2,
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="sk-test",
    ):
        backend = get_backend()
        vectors = backend.embed(["a", "b", "c"])
    assert backend.model_id == "openai/text-embedding-3-small/16"
    assert vectors.shape == (3, 16)
    assert np.allclose(vectors[2], openai_server.embedding("c", 16), atol=1e-6)
    assert [len(r["body"]["input"]) for r in openai_server.requests] == [2, 1]
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer sk-test"


def test_openai_backend_retries_then_reports(openai_server: FakeOpenAI) -> None:
    with override_settings(
        EMBEDDING_BACKEND="openai",
        EMBEDDING_DIMENSIONS=8,
        EMBEDDING_MAX_RETRIES=1,
        OPENAI_BASE_URL=openai_server.base_url,
    ):
        openai_server.fail_next = 1
        assert get_backend().embed(["x"]).shape == (1, 8)  # one failure, retried
        openai_server.fail_next = 5
        with pytest.raises(EmbeddingError, match="embedding service failed"):
            get_backend().embed(["y"])


def test_onnx_backend_is_exported_here_and_agrees_with_the_local_model(
    settings: object, tmp_path: object
) -> None:
    """EMBEDDING_BACKEND=onnx: exported from the wheel into EMBEDDING_ONNX_DIR on first use
    (never downloaded), int8, and close to the fp32 model on texts of every length."""
    import json
    from pathlib import Path

    from knowledge.embeddings import OnnxBackend
    from knowledge.onnx_model import EXPORT_VERSION, MANIFEST_FILE, MODEL_FILE

    folder = Path(str(tmp_path)) / "models"
    settings.EMBEDDING_ONNX_DIR = folder  # type: ignore[attr-defined]
    backend = OnnxBackend("all-MiniLM-L6-v2", batch_size=4)
    assert backend.model_id == "onnx-int8/all-MiniLM-L6-v2" and not backend.loaded
    texts = [
        "card dispute time limit",
        "mortgage",
        "A customer who does not recognise a card payment may dispute it within 120 days. "
        * 30,  # longer than the model's 256 tokens: truncated as sentence-transformers does
        *[f"Fee schedule item {n}: a replacement card costs {n} euros." for n in range(7)],
    ]
    vectors = backend.embed(texts)
    assert backend.loaded and (folder / MODEL_FILE).exists()
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["export_version"] == EXPORT_VERSION and len(manifest["source_sha256"]) == 64
    assert vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    reference = get_backend().embed(texts)  # sentence-transformers, fp32
    agreement = (vectors * reference).sum(axis=1)
    assert agreement.min() > 0.97, agreement
    # Another order of the input gives the same vectors, near enough (activations are
    # quantised per batch, so a text's batch-mates move it a little).
    reordered = backend.embed(texts[::-1])[::-1]
    assert (reordered * vectors).sum(axis=1).min() > 0.98
    assert backend.embed([]).shape == (0, 384)
    # Another process finds the export and reuses it; a stale manifest means a new export.
    exported_at = (folder / MODEL_FILE).stat().st_mtime_ns
    again = OnnxBackend("all-MiniLM-L6-v2", batch_size=4)
    assert np.allclose(again.embed(texts[:2]), vectors[:2], atol=1e-5)
    assert (folder / MODEL_FILE).stat().st_mtime_ns == exported_at
    (folder / MANIFEST_FILE).write_text(json.dumps({**manifest, "export_version": 0}))
    OnnxBackend("all-MiniLM-L6-v2", batch_size=4).warm()
    assert (folder / MODEL_FILE).stat().st_mtime_ns != exported_at
    assert json.loads((folder / MANIFEST_FILE).read_text()) == manifest
    with pytest.raises(EmbeddingError, match="all-MiniLM-L6-v2"):
        OnnxBackend("text-embedding-3-small", batch_size=4)
