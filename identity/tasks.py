from celery import shared_task

from identity import broker, heartbeat
from identity.matching import detect, pending
from identity.models import DetectionRun, IdentifierTypeJob
from identity.writing import idempotency


@shared_task
def purge_idempotency_records():
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS; returns how many went."""
    return idempotency.purge_expired()


@shared_task(ignore_result=True)
def detect_pending_profiles():
    """Incremental detection for every profile the writes left in the outbox
    (identity.matching.pending): woken by the writes, and every RECOVERY_SECONDS by the beat.

    The queued mark goes first: a write committing after this point wakes a task of its own.
    Safe to run twice at once, or again after a crash (each chunk is one transaction)."""
    broker.unmark(pending.SCHEDULED_KEY)
    return pending.drain()


@shared_task(ignore_result=True)
def detect_for_profiles(profile_ids):
    """Incremental detection after a change to these profiles (merges queue it)."""
    return detect.detect_for_profiles(profile_ids)


@shared_task(ignore_result=True)
def run_detection(run_id):
    """Full duplicate detection (manage.py detect_duplicates queues it)."""
    from identity.matching.runs import execute_detection_run

    execute_detection_run(run_id)


@shared_task(ignore_result=True)
def run_identifier_type_job(job_id):
    """The background work of a saved identifier-type change (identity.types.jobs)."""
    from identity.types.jobs import execute_type_job

    execute_type_job(job_id)


@shared_task(ignore_result=True)
def resume_stalled_jobs():
    """Every RECOVERY_SECONDS (beat): detection runs and identifier-type jobs whose worker died
    (their heartbeat stopped) or whose message was lost, queued again (identity.heartbeat)."""
    heartbeat.requeue_stalled(DetectionRun, lambda pk: broker.send(run_detection, pk))
    heartbeat.requeue_stalled(
        IdentifierTypeJob, lambda pk: broker.send(run_identifier_type_job, pk)
    )
