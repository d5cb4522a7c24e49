from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Profile(models.Model):
    """One customer.

    `attributes` maps a field name to {"v": value, "t": observed time (ISO 8601)}, so each field
    remembers when it was last observed and writes can be applied last-write-wins in any order.
    A merge never deletes a profile: it becomes a `merged` tombstone pointing to its survivor.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        MERGED = "merged"

    status = models.CharField(max_length=10, choices=Status, default=Status.ACTIVE)
    # Indexed only where set (Meta.indexes): an active profile, all but a few, keeps no entry.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed",
        db_index=False,
    )
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="profile_merged_iff_tombstone",
                condition=(Q(status="active", merged_into__isnull=True)
                           | Q(status="merged", merged_into__isnull=False)),
            ),
            models.CheckConstraint(
                name="profile_not_merged_into_itself", condition=~Q(merged_into=F("id"))
            ),
        ]
        indexes = [
            # The profiles merged into one (its audit timeline, a merge re-pointing them).
            # Partial: every new profile would otherwise add a NULL entry, a tenth of what
            # PostgreSQL spends inserting the profile's row.
            models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False),
                         name="profile_merged_into"),
        ]

    def __str__(self):
        return f"Profile {self.pk}"

    def attribute(self, name):
        return self.attributes.get(name, {}).get("v")


class ProfileEvent(models.Model):
    """Activity owned by a profile (an order, a page view, a subscription); moves on merge."""

    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # The profile page's event list and summary (count, last event).
            models.Index(fields=["profile", "-occurred_at"], name="event_profile_recent"),
        ]

    def __str__(self):
        return f"{self.kind} of profile {self.profile_id}"
