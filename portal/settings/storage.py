"""The file storage STORAGE_BACKEND names (``STORAGES["default"]``), from the environment.

- ``local``: ``MEDIA_ROOT`` on this machine's disk (one machine; the embedded default).
- ``azure``: Azure Blob Storage (django-storages' ``AzureStorage``): a private container,
  ``AZURE_STORAGE_CONTAINER``, reached by ``AZURE_STORAGE_CONNECTION_STRING`` or by
  ``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY`` (or, without a key, the
  managed identity of the host: ``DefaultAzureCredential``, azure-identity installed).
- ``s3``: an S3-compatible store (django-storages' ``S3Storage``): ``S3_BUCKET``,
  ``S3_ENDPOINT_URL`` (empty: AWS), ``S3_REGION``, ``S3_ACCESS_KEY_ID`` /
  ``S3_SECRET_ACCESS_KEY`` (empty: the host's credentials).

Existing names are never overwritten (a new upload gets a new name), no URL is ever handed
out (the portal streams every download after its checks: encrypted files refuse ``url()``,
documents are served by their view), and a stored name never comes from user input.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

BACKENDS = ("local", "azure", "s3")


def file_storage(backend: str, env: Any) -> dict[str, Any]:
    """``STORAGES["default"]`` for ``backend``."""
    if backend == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if backend == "azure":
        options: dict[str, Any] = {
            "azure_container": env.str("AZURE_STORAGE_CONTAINER", default="portal-files"),
            "overwrite_files": False,
            "timeout": env.int("AZURE_STORAGE_TIMEOUT_SECONDS", default=20),
        }
        connection_string = env.str("AZURE_STORAGE_CONNECTION_STRING", default="")
        account = env.str("AZURE_STORAGE_ACCOUNT_NAME", default="")
        if connection_string:
            options["connection_string"] = connection_string
        elif account:
            options["account_name"] = account
            key = env.str("AZURE_STORAGE_ACCOUNT_KEY", default="")
            if key:
                options["account_key"] = key
            else:  # the host's managed identity
                from azure.identity import DefaultAzureCredential

                options["token_credential"] = DefaultAzureCredential()
        else:
            raise ImproperlyConfigured(
                "STORAGE_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING or "
                "AZURE_STORAGE_ACCOUNT_NAME (docs/operations.md, 'File storage')."
            )
        return {"BACKEND": "storages.backends.azure_storage.AzureStorage", "OPTIONS": options}
    if backend == "s3":
        bucket = env.str("S3_BUCKET", default="")
        if not bucket:
            raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
        options = {
            "bucket_name": bucket,
            "file_overwrite": False,
            "default_acl": None,  # the bucket's (private): never public-read
            "querystring_auth": True,
            # A downloaded blob waits in memory up to 2 MB, then in a temporary file
            # (django-storages' default for S3 keeps all of it in memory).
            "max_memory_size": 2 * 1024 * 1024,
        }
        for option, name in (
            ("endpoint_url", "S3_ENDPOINT_URL"),
            ("region_name", "S3_REGION"),
            ("access_key", "S3_ACCESS_KEY_ID"),
            ("secret_key", "S3_SECRET_ACCESS_KEY"),
        ):
            value = env.str(name, default="")
            if value:
                options[option] = value
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(
        f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)} (got {backend!r})."
    )
