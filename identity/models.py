from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import ExtractYear
from django.utils import timezone

from identity.matching.rules import FEATURE_MAX_LENGTHS
from profiles.models import Profile


class IdentifierType(models.Model):
    """A kind of identifier (email, phone, customer_id, ...) and the rules its values follow."""

    class Normaliser(models.TextChoices):
        EMAIL = "email"
        PHONE = "phone", "phone (E.164)"
        TRIM = "trim"

    key = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100)
    normaliser = models.CharField(max_length=10, choices=Normaliser, default=Normaliser.TRIM)
    unique = models.BooleanField(
        default=False, help_text="A value belongs to at most one active profile."
    )
    single_valued = models.BooleanField(
        default=False, help_text="A profile holds at most one current value."
    )
    do_not_merge = models.BooleanField(
        default=False, help_text="Do not merge customers with different values."
    )
    can_grant_access = models.BooleanField(
        default=False, help_text="Values may be marked as granting account access."
    )
    matchable = models.BooleanField(
        default=False, help_text="Profiles sharing a value are suspected duplicates."
    )
    auto_merge = models.BooleanField(
        default=False, help_text="A write linking two profiles through a value merges them."
    )
    priority = models.PositiveSmallIntegerField(
        default=10, help_text="Order in which a record's identifiers are tried (lowest first)."
    )

    class Meta:
        ordering = ["priority", "key"]
        constraints = [
            models.CheckConstraint(
                name="identifiertype_auto_merge_needs_unique",
                condition=Q(auto_merge=False) | Q(unique=True),
            ),
        ]

    def __str__(self):
        return self.key


class Identifier(models.Model):
    """A value of an identifier type held by a profile.

    `is_unique` and `is_single_valued` copy the type's flags so that partial unique indexes can
    enforce them; the code that changes a type's flags rewrites them. A previous value
    (`is_current` false) was replaced on a single-valued type and still reaches its profile.
    """

    # No index of their own: identifier_once_per_profile (profile, type, value) and
    # identifier_lookup (type, value) lead with them, and every write keeps fewer indexes.
    profile = models.ForeignKey(
        Profile, on_delete=models.PROTECT, related_name="identifiers", db_index=False
    )
    type = models.ForeignKey(
        IdentifierType, on_delete=models.PROTECT, related_name="identifiers", db_index=False
    )
    raw_value = models.CharField(max_length=1000)
    value = models.CharField(max_length=1000, help_text="The normalised value.")
    is_current = models.BooleanField(default=True)
    is_unique = models.BooleanField()
    is_single_valued = models.BooleanField()
    grants_access = models.BooleanField(default=False)
    source = models.CharField(max_length=100, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["type", "value"],
                condition=Q(is_unique=True, is_current=True),
                name="identifier_unique_value",
            ),
            models.UniqueConstraint(
                fields=["profile", "type"],
                condition=Q(is_single_valued=True, is_current=True),
                name="identifier_single_current_value",
            ),
            # A profile holds a value once; also serves a profile's identifier list.
            models.UniqueConstraint(
                fields=["profile", "type", "value"], name="identifier_once_per_profile"
            ),
        ]
        indexes = [
            # Lookups by value and joins on shared values (non-unique types such as phone).
            models.Index(fields=["type", "value"], name="identifier_lookup"),
        ]

    def __str__(self):
        return f"{self.type_id}:{self.value}"


class DuplicateCandidate(models.Model):
    """A group of two or more active profiles suspected to be one person."""

    class Status(models.TextChoices):
        OPEN = "open"
        MERGED = "merged"
        DISMISSED = "dismissed", "not a duplicate"
        SUPERSEDED = "superseded"

    status = models.CharField(max_length=12, choices=Status, default=Status.OPEN)
    profiles = models.ManyToManyField(Profile, through="CandidateMember", related_name="candidates")
    evidence = models.JSONField(default=list, blank=True)
    score = models.FloatField(default=0)
    auto_merge = models.BooleanField(
        default=False, help_text="Linked through an auto-merge type: merged when nothing blocks."
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="claimed_candidates",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    merge_job_id = models.BigIntegerField(
        null=True, blank=True,
        help_text="The merge job that closed it as merged (a merges.MergeJob id: identity does "
                  "not depend on merges, identity.hooks.merge_job reads it).",
    )
    # "Not a duplicate": who said so, when and why (kept when new evidence reopens it).
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.TextField(blank=True)
    # The codes of identity.candidates.blocking.blocking_reasons for the profiles' state when
    # last refreshed (identity.candidates.blocking_codes), so the queue can filter on them; pages
    # show reasons afresh.
    blocking_codes = ArrayField(models.CharField(max_length=32), default=list, blank=True)

    class Meta:
        indexes = [
            # The queue: candidates of a status, newest or oldest first, paged by (created_at, id).
            models.Index(fields=["status", "-created_at", "-id"],
                         name="candidate_status_recent"),
            # The queue sorted by score, paged by (score, id).
            models.Index(fields=["status", "-score", "-id"], name="candidate_status_score"),
            # The queue's "blocked" and "blocking reason" filters (&&, @>).
            GinIndex(fields=["blocking_codes"], name="candidate_blocking_codes"),
            # The queue's "evidence" and "identifier type" filters (evidence @> '[{...}]').
            GinIndex(fields=["evidence"], opclasses=["jsonb_path_ops"],
                     name="candidate_evidence"),
        ]
        permissions = [
            ("claim_candidate", "Can claim a suspected duplicate"),
            ("dismiss_candidate", "Can dismiss a suspected duplicate as not a duplicate"),
        ]

    def __str__(self):
        return f"Candidate {self.pk}"


class CandidateMember(models.Model):
    # A candidate's members by candidate_member_once's index (it leads with the candidate); the
    # candidates a profile is in by the profile's foreign-key index. A full run writes a row per
    # member of every group it saves: no index more than these two.
    candidate = models.ForeignKey(DuplicateCandidate, on_delete=models.CASCADE, db_index=False)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["candidate", "profile"], name="candidate_member_once"),
        ]

    def __str__(self):
        return f"profile {self.profile_id} in candidate {self.candidate_id}"


class ApiToken(models.Model):
    """A bearer token for the HTTP API; only its SHA-256 is stored."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="api_tokens",
        help_text="The user the token acts for, with exactly that user's permissions. Without "
                  "one (an integration token) it may write, look up and read, and nothing else.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Kept, not deleted, when revoked: a revoked token is told so (401), and the admin lists it.
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class IdempotencyRecord(models.Model):
    """The first response to an API write carrying an Idempotency-Key, kept for replays.

    Stored in the write's own transaction, so a failed write leaves nothing behind; a request
    still running holds an advisory lock on (token, key), which is how a repeat knows (409).
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_per_token"),
        ]
        indexes = [
            # The periodic purge of expired keys.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self):
        return f"Idempotency-Key {self.key}"


class IdentityConflict(models.Model):
    """An ambiguous write, recorded: a value that could not go where the write asked.

    `collision`: a unique value the target wanted is held by another active profile (the pair
    becomes a duplicate candidate). `conflict`: a do-not-merge single-valued type where the
    target already holds another value (the write's value is not stored).
    """

    class Kind(models.TextChoices):
        COLLISION = "collision"
        CONFLICT = "conflict"

    kind = models.CharField(max_length=10, choices=Kind)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="+")
    type = models.ForeignKey(IdentifierType, on_delete=models.PROTECT, related_name="+")
    value = models.CharField(max_length=1000)
    held_by = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The other profile holding the value (collisions).",
    )
    current_value = models.CharField(
        max_length=1000, blank=True, help_text="The value the profile holds (conflicts)."
    )
    candidate = models.ForeignKey(
        DuplicateCandidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=100, blank=True, help_text="Of the latest write.")
    first_observed_at = models.DateTimeField()
    last_observed_at = models.DateTimeField()
    times = models.PositiveIntegerField(default=1, help_text="How many writes ran into it.")

    class Meta:
        constraints = [
            # A repeated write counts again on the same row (re-imports create nothing new).
            models.UniqueConstraint(
                fields=["kind", "profile", "type", "value"], name="conflict_once_per_value"
            ),
        ]

    def __str__(self):
        return f"{self.kind} on {self.type_id}:{self.value}"


class ProfileFeatures(models.Model):
    """The normalised matching fields of an active profile, kept by every write.

    Similar-people detection joins this compact table on its linkage keys instead of reading
    profiles' JSON attributes; each index serves one linkage key of identity.matching.rules.CONFIG.
    A missing field is NULL, not "": equi-joins then skip it, which is what blocking needs.
    """

    profile = models.OneToOneField(
        Profile, primary_key=True, on_delete=models.CASCADE, related_name="features"
    )
    first_name = models.CharField(max_length=FEATURE_MAX_LENGTHS["first_name"], null=True)  # noqa: DJ001
    first_canon = models.CharField(max_length=FEATURE_MAX_LENGTHS["first_canon"], null=True)  # noqa: DJ001
    last_name = models.CharField(max_length=FEATURE_MAX_LENGTHS["last_name"], null=True)  # noqa: DJ001
    date_of_birth = models.DateField(null=True)
    postcode = models.CharField(max_length=FEATURE_MAX_LENGTHS["postcode"], null=True)  # noqa: DJ001
    city = models.CharField(max_length=FEATURE_MAX_LENGTHS["city"], null=True)  # noqa: DJ001
    street = models.CharField(max_length=FEATURE_MAX_LENGTHS["street"], null=True)  # noqa: DJ001

    class Meta:
        verbose_name_plural = "profile features"
        # Each index costs every new profile an insertion, and an import's feature rows cost
        # PostgreSQL more than its identifiers and profiles together while each key had an
        # index of its own. So keys share an index where its leading column narrows enough:
        # about 50 profiles share a date of birth at a million; the key's other column is
        # checked on those rows. The two keys a full run's blocking groups by fastest in index
        # order keep theirs.
        indexes = [
            # Date of birth and first name; with postcode or city, and swapped names, on the
            # profiles sharing a date of birth.
            models.Index(fields=["date_of_birth", "first_canon"], name="features_dob_first"),
            models.Index(fields=["date_of_birth", "last_name"], name="features_dob_last"),
            # First name and postcode; a first name's frequency (agreement weights).
            models.Index(fields=["first_canon", "postcode"], name="features_first_postcode"),
            models.Index(Func(F("last_name"), function="soundex"), F("postcode"),
                         name="features_sound_postcode"),
            # Street and postcode; a postcode's frequency; swapped names within a postcode.
            models.Index(fields=["postcode", "street"], name="features_postcode_street"),
            models.Index(Func(F("first_canon"), function="soundex"),
                         Func(F("last_name"), function="soundex"), ExtractYear("date_of_birth"),
                         name="features_sounds_year"),
            models.Index(Func(F("first_canon"), function="soundex"),
                         Func(F("last_name"), function="soundex"), F("city"),
                         name="features_sounds_city"),
            # Profile search by name (pg_trgm: %, %>), and a surname's frequency (equality).
            GinIndex(fields=["first_name"], opclasses=["gin_trgm_ops"], name="features_first_trgm"),
            GinIndex(fields=["last_name"], opclasses=["gin_trgm_ops"], name="features_last_trgm"),
        ]

    def __str__(self):
        return f"features of profile {self.profile_id}"


class JunkValue(models.Model):
    """A matchable value shared by more profiles than the junk limit: it makes no pairs."""

    type = models.ForeignKey(IdentifierType, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=1000)
    profiles = models.PositiveIntegerField(help_text="How many active profiles hold it.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-profiles"]
        constraints = [
            models.UniqueConstraint(fields=["type", "value"], name="junk_value_once"),
        ]

    def __str__(self):
        return f"{self.type_id}:{self.value} ({self.profiles} profiles)"


class PendingDetection(models.Model):
    """A profile a write changed, left for incremental detection: the outbox of
    identity.matching.pending. Written in the write's own transaction, so the need outlives a
    broker that is down; taken by the drain task in the transaction of the detection itself.

    A row per profile per write: a writer never waits on a drain, and a drain takes every row of
    its profiles (the profile index) with each detection. A backlog too large for incremental
    detection (a bulk load through the API) is handed whole to one full detection run, which
    marks its rows with `run_id` and deletes them when it succeeds.
    """

    profile_id = models.BigIntegerField()
    run_id = models.BigIntegerField(
        null=True, blank=True,
        help_text="The full detection run (DetectionRun) that took this row over, if one did.",
    )

    class Meta:
        indexes = [
            # The drain takes every row of the profiles it detects.
            models.Index(fields=["profile_id"], name="pending_detection_profile"),
            # The rows a full run took over: none, but during such a run.
            models.Index(fields=["run_id"], name="pending_detection_run",
                         condition=Q(run_id__isnull=False)),
        ]

    def __str__(self):
        return f"Profile {self.profile_id} pending detection"


class DetectionRun(models.Model):
    """A full detection run: queued -> running -> succeeded | failed, with progress."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    stage = models.CharField(max_length=100, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    figures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    weights = models.JSONField(
        default=dict, blank=True,
        help_text="The comparison weights the run scored with (m, u and weight of each level, "
                  "the prior), learned from the data when it ran; incremental detection uses "
                  "the last successful run's until the next one (identity.matching.learning).",
    )
    heartbeat_at = models.DateTimeField(
        default=timezone.now, null=True, blank=True,
        help_text="Last sign of life: stamped by its worker while running (identity.heartbeat), "
                  "set when queued or queued again.",
    )

    class Meta:
        indexes = [
            # Unfinished runs whose heartbeat stopped (identity.recovery, /healthz).
            models.Index(fields=["heartbeat_at"], name="detection_run_unfinished",
                         condition=Q(status__in=["queued", "running"])),
        ]

    def __str__(self):
        return f"Detection run {self.pk}"


class IdentifierTypeJob(models.Model):
    """The background work a saved identifier-type change leaves: queued -> running ->
    succeeded | failed, with progress. The row is the truth; the settings page reads it.

    `recompute`: the blocking codes of the open candidates holding an identifier of the type,
    and detection for the pairs a `matchable` or `auto_merge` change makes or unmakes.
    `renormalise`: every value of the type through its (new) normaliser; a value that no longer
    validates, or would collide with another, is kept as it was and listed in `problems`.
    """

    class Kind(models.TextChoices):
        RECOMPUTE = "recompute", "Recompute blocking reasons and suggestions"
        RENORMALISE = "renormalise", "Re-normalise values"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    identifier_type = models.ForeignKey(
        IdentifierType, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=12, choices=Kind)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    changes = models.JSONField(default=dict, blank=True, help_text="The change that queued it.")
    stage = models.CharField(max_length=100, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    figures = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(
        default=list, blank=True,
        help_text="Values kept as they were (re-normalisation): at most PROBLEMS_KEPT of them.",
    )
    problem_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        default=timezone.now, null=True, blank=True,
        help_text="Last sign of life: stamped by its worker while running (identity.heartbeat), "
                  "set when queued or queued again.",
    )

    PROBLEMS_KEPT = 1000

    class Meta:
        indexes = [
            # A type's latest jobs on its settings page.
            models.Index(fields=["identifier_type", "-id"], name="type_job_recent"),
            # Unfinished jobs whose heartbeat stopped (identity.recovery, /healthz).
            models.Index(fields=["heartbeat_at"], name="type_job_unfinished",
                         condition=Q(status__in=["queued", "running"])),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} job {self.pk} for {self.identifier_type_id}"

    @property
    def finished(self):
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def percent(self):
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class BulkLoad(models.Model):
    """A file being imported (identity.writing.loads): its writes leave duplicate detection to
    one run at its end, over the profiles they listed in BulkLoadProfile."""

    source = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When detection over its profiles ended; empty while loading, or when an "
                  "interrupted load left its profiles to the next load's detection.",
    )

    def __str__(self):
        return f"Load {self.pk} of {self.source}"


class BulkLoadProfile(models.Model):
    """A profile a load touched, listed by the load's batch in its transaction and read by the
    load's detection at its end. Unlogged (migration 0011): no WAL for a list that re-running
    the load rebuilds should the server crash."""

    pk = models.CompositePrimaryKey("load_id", "profile_id")
    # Without an index of its own (the primary key's serves) nor a constraint checked on each
    # of a million rows: the load deletes its rows itself.
    load = models.ForeignKey(BulkLoad, on_delete=models.CASCADE, related_name="+",
                             db_index=False, db_constraint=False)
    profile_id = models.BigIntegerField()

    def __str__(self):
        return f"Profile {self.profile_id} of load {self.load_id}"
