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
