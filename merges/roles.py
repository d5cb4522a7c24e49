"""Who may do what (SPEC section 9): the roles, and the check every view makes.

ROLES is the one definition of the roles as Django groups, each allowed what the one before
is. A migration creates the groups; after every `migrate` (and every flush) `sync_roles` sets
each group's permissions to exactly this list again. Each view declares the one permission it
needs with `require_permission`; a refusal is a 403 that names it.

The roles name permissions of every app, so they live in the app above the others; views of any
app import `require_permission` from here (pages may compose apps).
"""

from functools import wraps

from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

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
    "merges.erase_person",
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


def describe_permission(perm):
    app_label, codename = perm.split(".", 1)
    name = (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .values_list("name", flat=True)
        .first()
    )
    return f"{name} ({perm})" if name else perm


def require_permission(perm):
    """Refuse with a 403 naming `perm` unless the user has it."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"This needs the permission: {describe_permission(perm)}.")
            return view(request, *args, **kwargs)

        wrapped.required_permission = perm
        return wrapped

    return decorator
