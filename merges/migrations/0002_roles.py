from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen as of this migration: the roles (SPEC section 9) and their permissions as they were then.
_VIEWER = [
    "profiles.view_profile",
    "profiles.view_profileevent",
    "identity.view_identifiertype",
    "identity.view_identifier",
    "identity.view_duplicatecandidate",
    "merges.view_mergejob",
    "merges.view_auditentry",
]
_STEWARD = _VIEWER + [
    "identity.claim_candidate",
    "identity.dismiss_candidate",
    "identity.change_identifier",
    "identity.delete_identifier",
    "merges.add_mergejob",
]
_SENIOR_STEWARD = _STEWARD + [
    "merges.override_blocking_reason",
    "identity.change_identifiertype",
]
_ADMIN = _SENIOR_STEWARD + [
    "identity.add_identifiertype",
    "identity.view_apitoken",
    "identity.add_apitoken",
    "identity.delete_apitoken",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.view_group",
    "auth.change_group",
]
ROLES = {"viewer": _VIEWER, "steward": _STEWARD, "senior steward": _SENIOR_STEWARD, "admin": _ADMIN}


def create_roles(apps, schema_editor):
    # Django creates permissions after `migrate`; the roles need them now.
    for app_config in apps.get_app_configs():
        # create_permissions skips app configs without a models module, as historical ones are.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    # A permission of a later model may not exist yet: it is skipped (the live sync adds it).
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([existing[perm] for perm in perms if perm in existing])


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
