import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from identity.models import DuplicateCandidate
from profiles.models import Profile

# Statement-level: TRUNCATE fires no row triggers.
REFUSE_TRUNCATE = (
    "RAISE EXCEPTION 'audit history is append-only: cannot truncate %', TG_TABLE_NAME;"
)


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
        max_length=100, blank=True,
        help_text="Why this survivor: the rule, or the steward's choice.",
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
    """An append-only record of one state-changing action, hash-chained to the one before.

    The entry holds ids, never personal values: names, emails, phones, attribute values and
    reasons live in its AuditPayload, and `payload_hash` (salted) stands for them in `hash`, so
    erasing a person's payloads leaves the chain verifiable (merges.audit.chain). The database
    refuses UPDATE, DELETE and TRUNCATE; `verify_audit` proves nothing was changed anyway.
    """

    created_at = models.DateTimeField(help_text="The database's clock, under the chain's lock.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )
    actor_label = models.CharField(max_length=150, help_text="Who acted, kept as written then.")
    action = models.CharField(max_length=64)
    targets = models.JSONField(default=dict, blank=True, help_text="The objects acted on, by id.")
    profile_ids = ArrayField(
        models.BigIntegerField(), default=list, blank=True,
        help_text="Every profile the entry names: the audit filter and the profile timeline.",
    )
    payload_hash = models.CharField(
        max_length=64, blank=True, help_text="sha256 of the salted payload; empty without one."
    )
    previous_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            # /audit/ filtered by action, newest first, paged by id.
            models.Index(fields=["action", "-id"], name="audit_action_recent"),
            # /audit/ filtered by actor, newest first, paged by id.
            models.Index(fields=["actor", "-id"], name="audit_actor_recent"),
            # /audit/'s time range, turned into a range of ids.
            models.Index(fields=["created_at", "id"], name="audit_time"),
            # /audit/ by profile or identifier value, and the profile page's timeline (&&).
            GinIndex(fields=["profile_ids"], name="audit_profiles"),
        ]
        permissions = [("erase_person", "Can erase a person's personal data")]
        triggers = [
            pgtrigger.Protect(
                name="append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            pgtrigger.Trigger(
                name="no_truncate", level=pgtrigger.Statement, when=pgtrigger.Before,
                operation=pgtrigger.Truncate, func=REFUSE_TRUNCATE,
            ),
        ]

    def __str__(self):
        return f"Audit entry {self.pk}"

    @property
    def before(self):
        """The values before the action, from the payload (None without one, or erased)."""
        return self._payload_data().get("before")

    @property
    def after(self):
        """The values after the action, from the payload (None without one, or erased)."""
        return self._payload_data().get("after")

    def _payload_data(self):
        if not self.payload_hash:
            return {}
        try:
            return self.payload.data
        except AuditPayload.DoesNotExist:
            return {}


class AuditPayload(models.Model):
    """The personal values of an audit entry: before/after snapshots, reasons, names.

    Never updated. Deleted only by erasure (merges.audit.erasure), which alone lifts the delete
    trigger; the salt goes with it, so the hash left on the entry cannot be matched against a
    guessed value afterwards.
    """

    entry = models.OneToOneField(
        AuditEntry, primary_key=True, on_delete=models.PROTECT, related_name="payload"
    )
    salt = models.CharField(max_length=32)
    data = models.JSONField()

    class Meta:
        triggers = [
            pgtrigger.Protect(name="no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="erasure_only", operation=pgtrigger.Delete),
            pgtrigger.Trigger(
                name="no_truncate", level=pgtrigger.Statement, when=pgtrigger.Before,
                operation=pgtrigger.Truncate, func=REFUSE_TRUNCATE,
            ),
        ]

    def __str__(self):
        return f"Payload of audit entry {self.entry_id}"


class AuditVerification(models.Model):
    """One check of the whole chain (verify_audit, the daily beat task); /healthz shows the
    latest and the latest that passed."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(default=False)
    entries = models.PositiveBigIntegerField(default=0)
    erased = models.PositiveBigIntegerField(default=0, help_text="Payloads erased, not broken.")
    broken_entry = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)

    class Meta:
        indexes = [
            # /healthz: the latest check that passed.
            models.Index(fields=["passed", "-finished_at"], name="audit_check_passed"),
        ]

    def __str__(self):
        return f"Audit check {self.pk}"
