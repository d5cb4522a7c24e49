from celery import shared_task

from identity import detect, idempotency


@shared_task
def purge_idempotency_records():
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS; returns how many went."""
    return idempotency.purge_expired()


@shared_task(ignore_result=True)
def detect_for_profiles(profile_ids):
    """Incremental detection after a write or an import batch touched these profiles."""
    return detect.detect_for_profiles(profile_ids)


@shared_task(ignore_result=True)
def run_detection(run_id):
    """Full duplicate detection (manage.py detect_duplicates queues it)."""
    from identity.runs import execute_detection_run

    execute_detection_run(run_id)
