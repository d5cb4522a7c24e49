"""Idempotency-Key handling for API writes (SPEC 3.6).

Inside the caller's transaction: a try-lock on (token, key) tells a request still running
(409); a stored record with the same body hash is replayed; another body is refused (422);
otherwise the work runs and its response is stored in the same transaction, so a failed write
leaves no record behind. `run_once` does it for one write; a group commit
(identity/writing/batching.py) calls `claim` and `remember` for each keyed write of its batch.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from identity.locks import lock_key
from identity.models import IdempotencyRecord


@dataclass
class Outcome:
    status: int | None = None
    body: dict | None = None
    refusal: str | None = None  # "in_flight" or "other_body"
    replayed: bool = False


def run_once(*, token, key, body_hash, work):
    """Run `work()` -> (status, body) once per (token, key); call inside transaction.atomic()."""
    refused = claim(token=token, key=key, body_hash=body_hash)
    if refused is not None:
        return refused
    status, body = work()
    remember([(token, key, body_hash, status, body)])
    return Outcome(status=status, body=body)


def claim(*, token, key, body_hash):
    """Take (token, key) for this transaction: None to go ahead, or the Outcome to answer."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s)", [lock_key(f"idempotency:{token.pk}", key)]
        )
        if not cursor.fetchone()[0]:
            return Outcome(refusal="in_flight")
    record = IdempotencyRecord.objects.filter(token=token, key=key).first()
    if record is None:
        return None
    if record.body_hash != body_hash:
        return Outcome(refusal="other_body")
    return Outcome(status=record.response_status, body=record.response_body, replayed=True)


def remember(responses):
    """Store (token, key, body_hash, status, body) responses claimed in this transaction."""
    IdempotencyRecord.objects.bulk_create(
        IdempotencyRecord(
            token=token, key=key, body_hash=body_hash, response_status=status, response_body=body
        )
        for token, key, body_hash, status, body in responses
    )


def purge_expired(*, now=None):
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
