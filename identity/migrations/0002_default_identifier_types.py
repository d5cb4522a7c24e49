from django.db import migrations

# Frozen as of this migration: the default identifier types (SPEC section 1) as they were then.
FIELDS = [
    "key", "label", "normaliser", "unique", "single_valued", "do_not_merge", "can_grant_access",
    "matchable", "auto_merge", "priority",
]
DEFAULT_TYPES = [
    ("customer_id", "Customer ID", "trim", True, True, True, False, False, False, 1),
    ("email", "Email", "email", True, False, False, True, True, False, 2),
    ("loyalty_card", "Loyalty card", "trim", True, True, True, True, False, False, 3),
    ("external_id", "External ID", "trim", True, True, True, False, False, False, 3),
    ("phone", "Phone", "phone", False, False, False, True, True, False, 4),
    ("anonymous_id", "Anonymous ID", "trim", True, False, False, False, False, True, 5),
]


def create(apps, schema_editor):
    # The missing types are created; existing ones keep their settings.
    IdentifierType = apps.get_model("identity", "IdentifierType")
    for row in DEFAULT_TYPES:
        values = dict(zip(FIELDS, row, strict=True))
        IdentifierType.objects.get_or_create(key=values.pop("key"), defaults=values)


def delete(apps, schema_editor):
    IdentifierType = apps.get_model("identity", "IdentifierType")
    IdentifierType.objects.filter(key__in=[row[0] for row in DEFAULT_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunPython(create, delete)]
