"""Let the content_manager role work in the Django admin on documents and form definitions.

The admin classes still apply the apps' policies (which collections a user manages);
these model permissions only open the admin pages to the role.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "knowledge": {
        "collection": ["view", "add", "change"],
        "document": ["view", "add", "change"],
        "chunk": ["view"],
    },
    "forms_app": {
        "formdefinition": ["view", "add", "change"],
        "formfield": ["view", "add", "change", "delete"],
    },
}


def grant(apps, schema_editor):
    for label in GRANTS:
        config = apps.get_app_config(label)
        config.models_module = True  # make create_permissions work inside a migration
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="content_manager")
    for label, models in GRANTS.items():
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("forms_app", "0004_encrypt_submission_data"),
        ("knowledge", "0004_customers"),
        ("portal", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
