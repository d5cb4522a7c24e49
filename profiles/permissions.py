"""Each view declares the one permission it needs; a refusal names it."""

from functools import wraps

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied


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
