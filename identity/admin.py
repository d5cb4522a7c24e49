"""The Django admin (superusers): identifiers, identifier types, candidates, tokens and the
background work, to look at.

Read-only wherever the product changes things through an audited service: identifier types
change on the settings page (impact preview, refusals, audit, background jobs), identifiers
through writes and steward edits, candidates through detection and stewards' decisions. An API
token may be revoked here; the revocation is audited like any other.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from identity.api.tokens import UnknownToken, revoke_api_token
from identity.models import (
    ApiToken,
    CandidateMember,
    DetectionRun,
    DuplicateCandidate,
    Identifier,
    IdentifierType,
    IdentifierTypeJob,
    IdentityConflict,
    JunkValue,
)
from profiles.admin import ReadOnlyAdmin


@admin.register(IdentifierType)
class IdentifierTypeAdmin(ReadOnlyAdmin):
    list_display = ["key", "label", "normaliser", "priority", "unique", "single_valued",
                    "do_not_merge", "can_grant_access", "matchable", "auto_merge", "settings"]

    @admin.display(description="change")
    def settings(self, obj):
        return format_html('<a href="{}">on the settings page</a>',
                           reverse("identifier_type_edit", args=[obj.key]))


@admin.register(Identifier)
class IdentifierAdmin(ReadOnlyAdmin):
    list_display = ["id", "profile", "type", "value", "is_current", "grants_access", "source",
                    "last_seen"]
    list_filter = ["type", "is_current", "grants_access"]
    search_fields = ["=value", "=profile__id"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


class CandidateMemberInline(admin.TabularInline):
    model = CandidateMember
    raw_id_fields = ["profile"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "score", "auto_merge", "blocking_codes", "assignee",
                    "created_at"]
    list_filter = ["status", "auto_merge"]
    search_fields = ["=id"]
    inlines = [CandidateMemberInline]
    show_full_result_count = False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Each token's user, creation, last use and revocation (SPEC 9). "Revoke" stops a token at
    once (as `manage.py revoke_api_token NAME` does); the row stays, so its history does."""

    list_display = ["name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["name", "user", "token_hash", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "user__username"]
    actions = ["revoke"]

    def has_add_permission(self, request, obj=None):
        return False  # made with `manage.py create_api_token`, which prints it once

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked instead: a revoked token is told so, a deleted one is unknown

    def has_revoke_permission(self, request):
        return request.user.has_perm("identity.delete_apitoken")

    @admin.action(description="Revoke the selected API tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = []
        for name in queryset.filter(revoked_at__isnull=True).values_list("name", flat=True):
            try:
                revoke_api_token(name=name, actor=request.user)
            except UnknownToken:  # revoked meanwhile
                continue
            revoked.append(name)
        if revoked:
            self.message_user(request, f"Revoked: {', '.join(revoked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "No token was revoked: those were revoked already.",
                              messages.WARNING)


@admin.register(IdentifierTypeJob)
class IdentifierTypeJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "identifier_type", "kind", "status", "done", "total", "problem_count",
                    "requested_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]


@admin.register(IdentityConflict)
class IdentityConflictAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "profile", "type", "value", "held_by", "times",
                    "last_observed_at"]
    list_filter = ["kind", "type"]
    raw_id_fields = ["profile", "held_by", "candidate"]
    show_full_result_count = False


@admin.register(JunkValue)
class JunkValueAdmin(ReadOnlyAdmin):
    list_display = ["type", "value", "profiles", "updated_at"]
    list_filter = ["type"]


@admin.register(DetectionRun)
class DetectionRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "stage", "progress", "created_at", "finished_at"]
    list_filter = ["status"]
