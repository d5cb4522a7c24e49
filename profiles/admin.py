"""The Django admin (superusers): profiles and their events, to look at.

Read-only: a profile changes through writes, merges and steward edits, each audited and each
keeping matching features and blocking reasons in step (identity.changes.profiles_changed); an
edit here would skip all of that. A merged profile is a tombstone and never changes at all.
"""

from django.contrib import admin

from profiles.models import Profile, ProfileEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable in the admin; added, changed and deleted only by the product's services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "merged_into", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["=id"]
    raw_id_fields = ["merged_into"]
    show_full_result_count = False


@admin.register(ProfileEvent)
class ProfileEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "profile", "kind", "occurred_at", "source"]
    list_filter = ["kind"]
    search_fields = ["=profile__id"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
