from django.db import migrations

from identity.defaults import DEFAULT_TYPES, create_default_types


def create(apps, schema_editor):
    create_default_types(apps.get_model("identity", "IdentifierType"))


def delete(apps, schema_editor):
    IdentifierType = apps.get_model("identity", "IdentifierType")
    IdentifierType.objects.filter(key__in=[row[0] for row in DEFAULT_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunPython(create, delete)]
