"""Documents are archived (out of search, kept, restorable) and deleted through the services.

An archived document's chunks have no collection (the search filter leaves them out), so
``Chunk.collection`` may be null. Content managers get the model permission to delete
documents in the admin (the admin still lets them delete only documents of the collections
they manage, through ``knowledge.services.document_delete``).
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def grant_delete(apps, schema_editor):
    config = apps.get_app_config("knowledge")
    config.models_module = True  # make create_permissions work inside a migration
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="content_manager")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="knowledge", codename="delete_document")
    )


def revoke_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="content_manager"):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="knowledge", codename="delete_document"
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0006_document_ingest_attempts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("portal", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="archive_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="document",
            name="archived_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="document",
            name="archived_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Only the NOT NULL goes: Django's AlterField would drop and re-add the foreign key,
        # re-checking every chunk under lock. Reversing needs no archived document left.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chunk",
                    name="collection",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="knowledge.collection",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE knowledge_chunk ALTER COLUMN collection_id DROP NOT NULL",
                    "ALTER TABLE knowledge_chunk ALTER COLUMN collection_id SET NOT NULL",
                ),
            ],
        ),
        migrations.RunPython(grant_delete, revoke_delete),
    ]
