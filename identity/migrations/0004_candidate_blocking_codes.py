"""Blocking codes stored on candidates for the queue's filters; trigram indexes for name search.

Adds the field, backfills the open candidates from the profiles' state now (judged by the
blocking rules frozen below, the state read through the historical models), then the indexes.
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

CHUNK = 2000


# Frozen as of this migration: the codes identity.blocking's rules (SPEC 5) gave then, codes only.
def blocking_codes(profiles, dismissed, in_job):
    """profiles: {id: (status, [(type key, value, is_current, grants_access, do_not_merge)])};
    dismissed: a "not a duplicate" covers two of them; in_job: a queued or running job holds one."""
    held = {}  # "do not merge" type key -> {profile id: its current values}
    granting = set()  # the distinct non-empty sets of current contacts granting access
    for pk, (_status, identifiers) in profiles.items():
        contacts = set()
        for type_key, value, is_current, grants_access, do_not_merge in identifiers:
            if is_current and do_not_merge:
                held.setdefault(type_key, {}).setdefault(pk, set()).add(value)
            if is_current and grants_access:
                contacts.add((type_key, value))
        if contacts:
            granting.add(frozenset(contacts))
    checks = [
        ("unique_id_conflict", any(
            len({frozenset(values) for values in holders.values()}) >= 2
            for holders in held.values()
        )),
        ("access_contact_mismatch", len(granting) >= 2),
        ("previously_dismissed", dismissed),
        ("inactive_profile", any(status == "merged" for status, _ in profiles.values())),
        ("merge_in_progress", in_job),
    ]
    return [code for code, applies in checks if applies]


def backfill_blocking_codes(apps, schema_editor):
    Candidate = apps.get_model("identity", "DuplicateCandidate")
    Member = apps.get_model("identity", "CandidateMember")
    Identifier = apps.get_model("identity", "Identifier")
    MergeJob = apps.get_model("merges", "MergeJob")
    jobs = [
        frozenset([survivor, *merged])
        for survivor, merged in MergeJob.objects.filter(
            status__in=["queued", "running"]
        ).values_list("survivor_id", "merged_profile_ids")
    ]
    open_ids = list(Candidate.objects.filter(status="open").order_by("pk").values_list(
        "pk", flat=True))
    for start in range(0, len(open_ids), CHUNK):
        chunk = open_ids[start:start + CHUNK]
        members, statuses = {}, {}
        for candidate_id, profile_id, status in Member.objects.filter(
            candidate_id__in=chunk
        ).values_list("candidate_id", "profile_id", "profile__status"):
            members.setdefault(candidate_id, set()).add(profile_id)
            statuses[profile_id] = status
        identifiers = {}
        for profile_id, *fields in Identifier.objects.filter(profile_id__in=statuses).values_list(
            "profile_id", "type__key", "value", "is_current", "grants_access",
            "type__do_not_merge",
        ):
            identifiers.setdefault(profile_id, []).append(fields)
        dismissed = {}  # dismissed candidate id -> its members among these profiles
        for candidate_id, profile_id in Member.objects.filter(
            profile_id__in=statuses, candidate__dismissed_at__isnull=False
        ).values_list("candidate_id", "profile_id"):
            dismissed.setdefault(candidate_id, set()).add(profile_id)
        for candidate_id in chunk:
            ids = members.get(candidate_id, set())
            codes = blocking_codes(
                {pk: (statuses[pk], identifiers.get(pk, [])) for pk in ids},
                dismissed=any(len(d & ids) >= 2 for d in dismissed.values()),
                in_job=any(job & ids for job in jobs),
            )
            if codes:
                Candidate.objects.filter(pk=candidate_id).update(blocking_codes=codes)


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0003_detection'),
        ('merges', '0001_initial'),
        ('profiles', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # similarity operators (%, %>) and gin_trgm_ops for profile search by name.
        TrigramExtension(),
        migrations.AddField(
            model_name='duplicatecandidate',
            name='blocking_codes',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=32), blank=True, default=list, size=None),
        ),
        migrations.RunPython(backfill_blocking_codes, migrations.RunPython.noop),
        # Paging by (created_at, id) needs the id in the index too.
        migrations.RemoveIndex(
            model_name='duplicatecandidate',
            name='candidate_status_recent',
        ),
        migrations.AddIndex(
            model_name='duplicatecandidate',
            index=models.Index(fields=['status', '-created_at', '-id'], name='candidate_status_recent'),
        ),
        migrations.AddIndex(
            model_name='duplicatecandidate',
            index=models.Index(fields=['status', '-score', '-id'], name='candidate_status_score'),
        ),
        migrations.AddIndex(
            model_name='duplicatecandidate',
            index=django.contrib.postgres.indexes.GinIndex(fields=['blocking_codes'], name='candidate_blocking_codes'),
        ),
        migrations.AddIndex(
            model_name='duplicatecandidate',
            index=django.contrib.postgres.indexes.GinIndex(fields=['evidence'], name='candidate_evidence', opclasses=['jsonb_path_ops']),
        ),
        migrations.AddIndex(
            model_name='profilefeatures',
            index=django.contrib.postgres.indexes.GinIndex(fields=['first_name'], name='features_first_trgm', opclasses=['gin_trgm_ops']),
        ),
        migrations.AddIndex(
            model_name='profilefeatures',
            index=django.contrib.postgres.indexes.GinIndex(fields=['last_name'], name='features_last_trgm', opclasses=['gin_trgm_ops']),
        ),
    ]
