"""Files on Azure Blob Storage (Azurite, a real server on loopback): the encrypted storage
keeps ciphertext in private blobs, the storage check refuses a missing or public container,
and move_files_to_storage copies what the local disk holds, checked, resumable."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import environ
import pytest
from azure.storage.blob import ContainerClient
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from knowledge.demo import seed_collections
from knowledge.models import Document
from knowledge.services import document_create
from portal.crypto import FILE_MAGIC
from portal.models import AuditEvent, RecordExport
from portal.settings.storage import file_storage
from portal.storage import encrypted_storage, file_storage_status
from tests.support.azurite import RunningAzurite, azurite

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = b"Jane Q. Customer, tax id 123-45-6789, card 4000 5555 6666 7777."


@pytest.fixture(scope="module")
def blob() -> Iterator[RunningAzurite]:
    with azurite() as running:
        yield running


def _use_azure(settings: Any, blob: RunningAzurite, container: str) -> ContainerClient:
    settings.STORAGE_BACKEND = "azure"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.azure_storage.AzureStorage",
            "OPTIONS": {
                "connection_string": blob.connection_string,
                "azure_container": container,
                "overwrite_files": False,
            },
        },
    }
    return ContainerClient.from_connection_string(blob.connection_string, container)


@pytest.fixture
def container(settings: Any, blob: RunningAzurite) -> ContainerClient:
    client = _use_azure(settings, blob, f"t-{uuid.uuid4().hex[:12]}")
    file_storage_status(create=True)
    return client


def test_encrypted_files_are_ciphertext_in_private_blobs(container: ContainerClient) -> None:
    name = encrypted_storage.save("submissions/ab/secret", ContentFile(SECRET))
    raw = container.download_blob(name).readall()
    assert raw.startswith(FILE_MAGIC) and SECRET[:20] not in raw
    with encrypted_storage.open(name) as handle:
        assert handle.read() == SECRET
    assert encrypted_storage.exists(name) and encrypted_storage.is_encrypted(name)
    # A second file under the same name gets a new one: nothing is overwritten.
    other = encrypted_storage.save("submissions/ab/secret", ContentFile(b"other"))
    assert other != name and container.download_blob(name).readall() == raw
    with pytest.raises(NotImplementedError, match="no URL"):
        encrypted_storage.url(name)
    assert container.get_container_properties().public_access is None
    encrypted_storage.delete(name)
    assert not encrypted_storage.exists(name)


def test_the_storage_check_refuses_a_missing_or_public_container(
    settings: Any, blob: RunningAzurite
) -> None:
    client = _use_azure(settings, blob, f"t-{uuid.uuid4().hex[:12]}")
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        file_storage_status()
    with pytest.raises(CommandError, match="does not exist"):
        call_command("storage_check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("storage_check", "--create", stdout=out)
    assert "ready" in out.getvalue() and client.exists()
    public = _use_azure(settings, blob, f"t-{uuid.uuid4().hex[:12]}")
    public.create_container(public_access="blob")
    with pytest.raises(ImproperlyConfigured, match="public read access"):
        file_storage_status()


def test_storage_settings_from_the_environment(monkeypatch: Any) -> None:
    env = environ.Env()
    assert file_storage("local", env)["BACKEND"].endswith("FileSystemStorage")
    with pytest.raises(ImproperlyConfigured, match="AZURE_STORAGE_CONNECTION_STRING"):
        file_storage("azure", env)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    azure = file_storage("azure", env)
    assert azure["OPTIONS"]["connection_string"] == "UseDevelopmentStorage=true"
    assert azure["OPTIONS"]["overwrite_files"] is False
    with pytest.raises(ImproperlyConfigured, match="S3_BUCKET"):
        file_storage("s3", env)
    monkeypatch.setenv("S3_BUCKET", "portal")
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    s3 = file_storage("s3", env)["OPTIONS"]
    assert s3["bucket_name"] == "portal" and s3["endpoint_url"] == "http://127.0.0.1:9000"
    assert s3["default_acl"] is None and s3["file_overwrite"] is False
    with pytest.raises(ImproperlyConfigured, match="one of local, azure, s3"):
        file_storage("ftp", env)


def _moved(out: str) -> dict[str, int]:
    match = re.search(
        r"(\d+) file\(s\) copied, (\d+) already there, (\d+) missing locally, (\d+) failed", out
    )
    assert match, out
    copied, already, missing, failed = (int(group) for group in match.groups())
    return {"copied": copied, "already": already, "missing": missing, "failed": failed}


def test_moving_local_files_to_the_blob_store(
    settings: Any, blob: RunningAzurite, tmp_path: Path, make_user: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Stored on the local disk first (STORAGE_BACKEND=local).
    document = document_create(
        actor=None,
        collection=seed_collections()["products-fees"],
        title="Fees",
        file=ContentFile(b"# Fees\n\nA card replacement costs five euros.", name="fees.md"),
        enqueue=False,
    )
    export = RecordExport.objects.create(requested_by=make_user("mover", "compliance"))
    export.file.save("e.zip", ContentFile(SECRET))
    gone = RecordExport.objects.create(requested_by=export.requested_by)
    RecordExport.objects.filter(pk=gone.pk).update(file="exports/not-there.zip")
    local = Path(settings.MEDIA_ROOT)
    assert (local / document.file.name).exists() and (local / export.file.name).exists()

    container = _use_azure(settings, blob, f"t-{uuid.uuid4().hex[:12]}")
    call_command("storage_check", "--create", stdout=io.StringIO())
    out = io.StringIO()
    with pytest.raises(CommandError) as missing:  # a file the database names is nowhere
        call_command("move_files_to_storage", stdout=out, stderr=io.StringIO())
    assert _moved(str(missing.value)) == {"copied": 2, "already": 0, "missing": 1, "failed": 0}
    RecordExport.objects.filter(pk=gone.pk).delete()
    # Read back through the portal's storages, from the blob store.
    assert Document.objects.get(pk=document.pk).file.open("rb").read().startswith(b"# Fees")
    with RecordExport.objects.get(pk=export.pk).file.open("rb") as handle:
        assert handle.read() == SECRET
    assert container.download_blob(export.file.name).readall().startswith(FILE_MAGIC)
    # Resumable: a second run copies nothing; a damaged copy is copied again.
    again = io.StringIO()
    call_command("move_files_to_storage", stdout=again, stderr=io.StringIO())
    assert _moved(again.getvalue())["already"] == 2
    container.upload_blob(document.file.name, b"damaged", overwrite=True)
    repaired = io.StringIO()
    call_command("move_files_to_storage", "--delete-local", stdout=repaired, stderr=io.StringIO())
    assert _moved(repaired.getvalue())["copied"] == 1
    assert container.download_blob(document.file.name).readall().startswith(b"# Fees")
    assert not (local / document.file.name).exists() and not (local / export.file.name).exists()
    event = AuditEvent.objects.filter(action="files.moved_to_storage").order_by("-pk").first()
    assert event is not None and event.details["copied"] == 1
    # Refused while the storage is still the local disk.
    settings.STORAGES = {**settings.STORAGES, "default": file_storage("local", environ.Env())}
    with pytest.raises(CommandError, match="STORAGE_BACKEND is local"):
        call_command("move_files_to_storage", stdout=io.StringIO())
