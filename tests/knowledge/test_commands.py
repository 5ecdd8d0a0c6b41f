"""manage.py ingest and reindex."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from knowledge.embeddings import get_backend
from knowledge.models import Chunk, Collection, Document, DocumentStatus


@pytest.mark.django_db
def test_ingest_folder_then_only_changes(
    collections: dict[str, Collection], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "wire-fees.md").write_text("# Wire fees\n\nOutgoing wires cost 15.")
    (tmp_path / "sub" / "atm_fees.txt").write_text("ATM withdrawals abroad cost 2.50.")
    (tmp_path / "notes.xyz").write_text("ignored: not a supported extension")
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf")
    call_command("ingest", str(tmp_path), "--collection", "products-fees")
    out = capsys.readouterr()
    assert "2 ready, 1 failed, 0 unchanged." in out.out
    assert "broken" not in out.out and "failed: document" in out.err
    assert "PDF" in Document.objects.get(title="broken").error  # the reason is kept
    titles = set(Document.objects.values_list("title", "status"))
    assert ("wire fees", "ready") in titles and ("atm fees", "ready") in titles

    call_command("ingest", str(tmp_path), "--collection", "products-fees")
    assert "0 ready, 0 failed, 3 unchanged." in capsys.readouterr().out

    (tmp_path / "wire-fees.md").write_text("# Wire fees\n\nOutgoing wires cost 20.")
    call_command("ingest", str(tmp_path), "--collection", "products-fees")
    assert "1 ready" in capsys.readouterr().out
    wire = Document.objects.get(title="wire fees")
    assert (wire.version, wire.live_version, wire.status) == (2, 2, DocumentStatus.READY)


@pytest.mark.django_db
def test_ingest_reports_bad_arguments(collections: dict[str, Collection], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No collection"):
        call_command("ingest", str(tmp_path), "--collection", "nope")
    with pytest.raises(CommandError, match="No supported files"):
        call_command("ingest", str(tmp_path), "--collection", "products-fees")


@pytest.mark.django_db
def test_reindex_re_embeds_other_models_only(
    collections: dict[str, Collection],
    add_document: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = add_document(collections["products-fees"], "Old", "Embedded by another model.")
    current = add_document(collections["products-fees"], "Current", "Embedded by this model.")
    Chunk.objects.filter(document=old).update(embedding_model="openai/old-model/384")
    call_command("reindex")
    assert "1 re-indexed" in capsys.readouterr().out
    models = set(Chunk.objects.values_list("embedding_model", flat=True))
    assert models == {get_backend().model_id}
    call_command("reindex")
    assert "Nothing to re-index." in capsys.readouterr().out
    assert current.pk != old.pk
