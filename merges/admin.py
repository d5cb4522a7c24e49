"""The Django admin (superusers) for merges' models, and the audit of what the admin changes.

The audit history is read-only here as everywhere (the database refuses changes anyway). Users
and roles are changed in the admin: each addition, change, password change and deletion is
audited in its transaction, with before/after snapshots (names and emails in the payload).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from merges import audit
from merges.audit.labels import action_label
from merges.models import AuditEntry, AuditVerification, MergeJob
from profiles.admin import ReadOnlyAdmin

User = get_user_model()


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor_label", "label", "targets"]
    list_filter = ["action"]
    search_fields = ["=id", "actor_label"]
    show_full_result_count = False
    exclude = ["actor"]

    @admin.display(description="action")
    def label(self, entry):
        return action_label(entry.action)


@admin.register(MergeJob)
class MergeJobAdmin(ReadOnlyAdmin):
    """Merge jobs are made by the merge service and changed only by it: read-only here."""

    list_display = ["id", "status", "survivor_id", "merged_profile_ids", "requested_by",
                    "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["=id", "=survivor__id"]
    show_full_result_count = False


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "started_at", "finished_at", "passed", "entries", "erased",
                    "broken_entry", "problem"]


def user_snapshot(user):
    return {
        "username": user.get_username(), "first_name": user.first_name,
        "last_name": user.last_name, "email": user.email, "is_active": user.is_active,
        "is_staff": user.is_staff, "is_superuser": user.is_superuser,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(
            f"{app}.{codename}" for app, codename in
            user.user_permissions.values_list("content_type__app_label", "codename")
        ),
    }


def group_snapshot(group):
    return {
        "name": group.name,
        "permissions": sorted(
            f"{app}.{codename}" for app, codename in
            group.permissions.values_list("content_type__app_label", "codename")
        ),
    }


class AuditedAdmin:
    """Audits what a ModelAdmin saves: the state before save_model, after save_related (the
    many-to-many fields saved), in the admin's own transaction."""

    snapshot = None  # obj -> dict
    target = None  # "user", "group"
    actions_for = {}  # "added", "changed", "deleted" -> action code

    def save_model(self, request, obj, form, change):
        if change:
            obj._audit_before = self.snapshot(type(obj).objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(obj, "_audit_before", None)
        after = self.snapshot(obj)
        if change and before == after:
            return
        audit.record(actor=request.user, action=self.action(before, after, change),
                     targets={self.target: obj.pk}, before=before, after=after)

    def action(self, before, after, change):
        return self.actions_for["changed" if change else "added"]

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record_deletion(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.order_by("pk"):
                self._record_deletion(request, obj)
            super().delete_queryset(request, queryset)

    def _record_deletion(self, request, obj):
        audit.record(actor=request.user, action=self.actions_for["deleted"],
                     targets={self.target: obj.pk}, before=self.snapshot(obj))


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    snapshot = staticmethod(user_snapshot)
    target = "user"
    actions_for = {"added": "user.added", "changed": "user.changed", "deleted": "user.deleted"}

    def action(self, before, after, change):
        roles = ("roles", "is_staff", "is_superuser", "permissions")
        if change and any(before[key] != after[key] for key in roles):
            return "user.roles_changed"
        return super().action(before, after, change)

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        # The password form saves without save_model: its change is audited here, no value kept.
        if not hasattr(obj, "_audit_before"):
            audit.record(actor=request.user, action="user.password_changed",
                         targets={"user": obj.pk})
        return super().log_change(request, obj, message)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    snapshot = staticmethod(group_snapshot)
    target = "group"
    actions_for = {"added": "role.added", "changed": "role.changed", "deleted": "role.deleted"}
