from celery import shared_task

from identity import idempotency


@shared_task
def purge_idempotency_records():
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS; returns how many went."""
    return idempotency.purge_expired()
