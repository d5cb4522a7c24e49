from functools import cache

import redis
from celery import shared_task
from django.conf import settings

from identity.matching import detect
from identity.writing import idempotency

# Incremental detection after writes: each write adds the profiles it touched to a Redis set
# (one SADD, far cheaper than a Celery message per write), and a drain task takes the set.
PENDING_KEY = "mergeguard:detect:pending"
# Set while a drain task is queued and not yet started, so that writes queue one task, not one
# each. It expires soon, so that a task lost before it ran (a purged queue) holds up the next
# writes' detection for half a second at most; a task more is harmless.
SCHEDULED_KEY = "mergeguard:detect:scheduled"
SCHEDULED_MS = 500
DRAIN_CHUNK = 100  # profiles per detect_for_profiles call


@cache
def _redis(url):
    return redis.Redis.from_url(url)


def queue_detection(profile_ids):
    """Have incremental detection look at these profiles soon (a write calls it after commit)."""
    with _redis(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        pipe.sadd(PENDING_KEY, *profile_ids)
        pipe.set(SCHEDULED_KEY, 1, nx=True, px=SCHEDULED_MS)
        _, scheduled = pipe.execute()
    if scheduled:
        detect_pending_profiles.delay()


@shared_task
def purge_idempotency_records():
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS; returns how many went."""
    return idempotency.purge_expired()


@shared_task(bind=True, ignore_result=True)
def detect_pending_profiles(self):
    """Incremental detection for every profile queued by `queue_detection` so far.

    The scheduled mark goes first: a write queuing after this point queues a task of its own.
    The pending profiles are moved to a set named after this task, so that a delivery of it
    again after a crash (acks_late) finishes them, and a write touching them again meanwhile
    lands in the pending set for the next task.
    """
    client = _redis(settings.REDIS_URL)
    taken = f"{PENDING_KEY}:{self.request.id}"
    client.delete(SCHEDULED_KEY)
    with client.pipeline() as pipe:  # MULTI/EXEC: no id slips between the two
        pipe.sunionstore(taken, [taken, PENDING_KEY])
        pipe.delete(PENDING_KEY)
        pipe.execute()
    profile_ids = sorted(int(pk) for pk in client.smembers(taken))
    for start in range(0, len(profile_ids), DRAIN_CHUNK):
        detect.detect_for_profiles(profile_ids[start:start + DRAIN_CHUNK])
    client.delete(taken)


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
