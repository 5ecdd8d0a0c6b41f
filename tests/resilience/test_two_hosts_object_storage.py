"""Web and worker on two machines: each with a MEDIA_ROOT of its own, sharing files only
through Azure Blob Storage (Azurite, a real server on loopback). A document uploaded to the
web process is ingested by the worker, which can only have read it from the blob store; the
blob holds the uploaded bytes, neither disk holds them, and the web process's search finds
the chunks the worker made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.storage.blob import ContainerClient

from knowledge.demo import seed_collections
from knowledge.models import Chunk, Document, DocumentStatus
from portal.models import TOKEN_SCOPES
from portal.permissions import Role
from portal.services import api_token_create
from tests.resilience.support import (
    ROOT,
    Process,
    Valkey,
    WebServer,
    Worker,
    database_url,
    wait_until,
)
from tests.support.azurite import azurite

pytestmark = pytest.mark.django_db(transaction=True)

CONTAINER = "portal-files"
POLICY = (
    b"# Card replacement\n\nA lost card is replaced within three business days. The "
    b"replacement is free once a year; a second replacement costs five euros.\n"
)


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_a_document_uploaded_on_one_host_is_ingested_on_another(
    broker: Valkey,
    processes: list[Process],
    worker_env: dict[str, Any],
    tmp_path: Path,
    make_user: Any,
) -> None:
    seed_collections()
    manager = make_user("storage_manager", Role.CONTENT_MANAGER)
    _, key = api_token_create(user=manager, name="upload", scopes=TOKEN_SCOPES)
    web_media, worker_media = tmp_path / "web-media", tmp_path / "worker-media"
    with azurite() as blob:
        storage_env = {**blob.env(CONTAINER), "DATABASE_URL": database_url()}
        # The container, private, made by the portal's own command.
        made = subprocess.run(
            [sys.executable, "manage.py", "storage_check", "--create"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", **storage_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        container = ContainerClient.from_connection_string(blob.connection_string, CONTAINER)
        assert container.exists() and not container.get_container_properties().public_access

        web = WebServer(
            {**storage_env, "REDIS_URL": broker.url, "MEDIA_ROOT": str(web_media)}, tmp_path
        )
        processes.append(web)
        worker = Worker(
            "far", broker.url, {**worker_env, **storage_env, "MEDIA_ROOT": str(worker_media)},
            tmp_path,
        )  # fmt: skip
        processes.append(worker)
        web.wait_ready()
        worker.wait_ready()

        auth = {"Authorization": f"Token {key}"}
        response = requests.post(
            f"{web.url}/api/v1/documents/",
            headers=auth,
            data={"collection": "products-fees", "title": "Card replacement on two hosts"},
            files={"file": ("card.md", POLICY, "text/markdown")},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        document_id = response.json()["id"]

        def ready() -> bool:
            status = Document.objects.get(pk=document_id).status
            assert status != DocumentStatus.FAILED, worker.output()[-3000:]
            return status == DocumentStatus.READY

        wait_until(ready, 90, "the document ingested by the other host", log=worker)
        document = Document.objects.get(pk=document_id)
        assert Chunk.objects.filter(document=document).exists()
        # The file is in the blob store, under the name the row holds, and on neither disk.
        names = [item.name for item in container.list_blobs()]
        assert document.file.name in names
        assert container.download_blob(document.file.name).readall() == POLICY
        assert _files(web_media) == [] and _files(worker_media) == []
        # Found by search through the web process (its chunks came from the blob).
        found = requests.get(
            f"{web.url}/api/v1/search/",
            headers=auth,
            params={"q": "lost card replaced business days", "mode": "keyword"},
            timeout=30,
        )
        assert found.status_code == 200, found.text
        assert any(hit["document_id"] == document_id for hit in found.json()["results"])
