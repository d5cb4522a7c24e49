"""The roles of SPEC section 9 as Django groups; each may do what the one before may.

ROLES is the one definition. A migration creates the groups; after every `migrate` (and every
flush) `sync_roles` sets each group's permissions to exactly this list again.
"""

from django.contrib.auth.management import create_permissions

VIEWER = "viewer"
STEWARD = "steward"
SENIOR_STEWARD = "senior steward"
ADMIN = "admin"

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
ROLES = {VIEWER: _VIEWER, STEWARD: _STEWARD, SENIOR_STEWARD: _SENIOR_STEWARD, ADMIN: _ADMIN}


def sync_roles(apps, *, strict=True):
    """Create the role groups and give each exactly its permissions.

    A migration calls it with the historical `apps`, where a permission of a later model may not
    exist yet (strict=False skips it); after `migrate` every permission must exist.
    """
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
    for name, perms in ROLES.items():
        missing = [perm for perm in perms if perm not in existing]
        if missing and strict:
            raise LookupError(f"role {name!r} names unknown permissions: {', '.join(missing)}")
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([existing[perm] for perm in perms if perm in existing])
