"""Reads of merge jobs."""

from django.contrib.postgres.fields import ArrayField
from django.db.models import BigIntegerField, Q, Value

from identity.candidates.blocking import JobState
from merges.models import MergeJob

ID_ARRAY = ArrayField(BigIntegerField())  # one parameter for a list of ids, however long


def jobs_in_progress(profile_ids, *, excluding_job_id=None):
    """Queued or running merge jobs whose survivor or merged profiles include these profiles.

    Identity's blocking state reads them through identity.hooks (`merge_in_progress`); the
    merge task passes its own job as `excluding_job_id`: the job running the merge is not a
    merge in progress that blocks it.
    """
    jobs = MergeJob.objects.filter(
        Q(survivor_id__any=profile_ids)
        | Q(merged_profile_ids__overlap=Value(list(profile_ids), output_field=ID_ARRAY)),
        status__in=[MergeJob.Status.QUEUED, MergeJob.Status.RUNNING],
    )
    if excluding_job_id is not None:
        jobs = jobs.exclude(pk=excluding_job_id)
    rows = jobs.order_by("pk").values_list("pk", "status", "survivor_id", "merged_profile_ids")
    return [
        JobState(pk, status, frozenset([survivor_id, *merged]))
        for pk, status, survivor_id, merged in rows
    ]
