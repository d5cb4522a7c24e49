from django.db import migrations

from merges.roles import ROLES, sync_roles


def create_roles(apps, schema_editor):
    sync_roles(apps, strict=False)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("profiles", "0001_initial"),
        ("identity", "0001_initial"),
        ("merges", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
