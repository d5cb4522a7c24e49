from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from identity.models import DuplicateCandidate
from profiles.models import Profile


class MergeJob(models.Model):
    """A merge a steward confirmed (or the system queued), run by a worker.

    queued -> running -> succeeded | failed. The row is the truth; pages read it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    candidate = models.ForeignKey(
        DuplicateCandidate, null=True, blank=True, on_delete=models.PROTECT,
        related_name="merge_jobs",
    )
    survivor = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="+")
    merged_profile_ids = ArrayField(models.BigIntegerField())
    field_choices = models.JSONField(default=dict, blank=True)
    acknowledged_reasons = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    survivor_rule = models.CharField(
        max_length=100, blank=True, help_text="Why this survivor: the rule, or the steward's choice."
    )
    summary = models.JSONField(
        default=dict, blank=True, help_text="What the merge moved, in numbers (no personal data)."
    )
    # The merge feed's order: given under a lock as the merge commits, so a consumer reading
    # after a position never misses one committed later with a smaller one.
    feed_position = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        indexes = [
            # The /merges/ list, newest first, paged by id.
            models.Index(fields=["status", "-id"], name="mergejob_status_recent"),
        ]
        permissions = [
            ("override_blocking_reason", "Can merge a blocked group, acknowledging each reason"),
        ]

    def __str__(self):
        return f"Merge job {self.pk}"


class AuditEntry(models.Model):
    """An append-only record of one state-changing action, hash-chained to the one before."""

    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Who acted, kept as written then.")
    action = models.CharField(max_length=64)
    targets = models.JSONField(default=dict, blank=True, help_text="The objects acted on.")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.action} by {self.actor_label}"
