"""Blocking codes stored on candidates for the queue's filters; trigram indexes for name search.

Adds the field, backfills the open candidates from the profiles' state now (judged by the pure
identity.blocking rules, the state read through the historical models), then the indexes.
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from identity.blocking import (
    DismissalState,
    GroupState,
    IdentifierState,
    JobState,
    ProfileState,
    blocking_reasons,
)

CHUNK = 2000


def backfill_blocking_codes(apps, schema_editor):
    Candidate = apps.get_model("identity", "DuplicateCandidate")
    Member = apps.get_model("identity", "CandidateMember")
    Identifier = apps.get_model("identity", "Identifier")
    MergeJob = apps.get_model("merges", "MergeJob")
    jobs = [
        JobState(pk, status, frozenset([survivor, *merged]))
        for pk, status, survivor, merged in MergeJob.objects.filter(
            status__in=["queued", "running"]
        ).values_list("pk", "status", "survivor_id", "merged_profile_ids")
    ]
    open_ids = list(Candidate.objects.filter(status="open").order_by("pk").values_list(
        "pk", flat=True))
    for start in range(0, len(open_ids), CHUNK):
        chunk = open_ids[start:start + CHUNK]
        members, profiles = {}, {}
        for candidate_id, profile_id, status, merged_into in Member.objects.filter(
            candidate_id__in=chunk
        ).values_list("candidate_id", "profile_id", "profile__status", "profile__merged_into_id"):
            members.setdefault(candidate_id, set()).add(profile_id)
            profiles[profile_id] = (status, merged_into)
        identifiers = {}
        for profile_id, *fields in Identifier.objects.filter(profile_id__in=profiles).values_list(
            "profile_id", "type__key", "type__label", "value", "is_current", "grants_access",
            "type__do_not_merge",
        ):
            identifiers.setdefault(profile_id, []).append(IdentifierState(*fields))
        dismissed = {}
        for candidate_id, profile_id, by, at, reason in Member.objects.filter(
            profile_id__in=profiles, candidate__dismissed_at__isnull=False
        ).values_list("candidate_id", "profile_id", "candidate__dismissed_by__username",
                      "candidate__dismissed_at", "candidate__dismiss_reason"):
            dismissed.setdefault(candidate_id, [set(), by or "", at, reason])[0].add(profile_id)
        dismissals = [
            DismissalState(pk, frozenset(ids), by, at, reason)
            for pk, (ids, by, at, reason) in dismissed.items()
        ]
        for candidate_id in chunk:
            ids = members.get(candidate_id, set())
            group = GroupState(
                profiles=tuple(
                    ProfileState(pk, *profiles[pk], tuple(identifiers.get(pk, ())))
                    for pk in sorted(ids)
                ),
                dismissals=tuple(d for d in dismissals if len(d.profile_ids & ids) >= 2),
                jobs=tuple(j for j in jobs if j.profile_ids & ids),
            )
            codes = list(dict.fromkeys(r.code for r in blocking_reasons(group)))
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
