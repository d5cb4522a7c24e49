"""Long jobs that outlive their worker: a heartbeat on the job's row.

A job (a full detection run, an identifier-type job) claims its row with `claim`: queued ->
running, in one UPDATE, so two deliveries of its message never run it at once (each job is safe
to run again from the start). While it runs, `beating` stamps `heartbeat_at` every
HEARTBEAT_SECONDS from a thread of the worker, whatever statement the job is in. A job still
`running` whose heartbeat is older than HEARTBEAT_STALE_SECONDS has lost its worker:
`requeue_stalled` (the beat, identity.tasks) puts it back to `queued` and sends it again, and
/healthz reports it meanwhile.

`requeue_stalled` also sends again a job `queued` that long: its message was lost (the broker was
down when it was queued) or waits behind other work; a second message finds it running or done
and does nothing.
"""

import contextlib
import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"


def claim(model, pk):
    """Mark job `pk` running if it is queued, or running with a stopped heartbeat (its message
    came back after the broker's visibility timeout); False when a live delivery has it or it
    ended."""
    now = timezone.now()
    stopped = Q(status=RUNNING, heartbeat_at__lt=stale_before(now))
    return bool(model.objects.filter(Q(status=QUEUED) | stopped, pk=pk)
                .update(status=RUNNING, started_at=now, heartbeat_at=now))


@contextlib.contextmanager
def beating(model, pk):
    """Stamp the running job's heartbeat every HEARTBEAT_SECONDS while the block runs."""
    stop = threading.Event()
    thread = threading.Thread(target=_beat, args=(model, pk, stop), daemon=True,
                              name=f"heartbeat {model._meta.label} {pk}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.HEARTBEAT_SECONDS)


def _beat(model, pk, stop):
    table = model._meta.db_table
    # SKIP LOCKED: the heartbeat never waits, not even on a transaction holding the row.
    sql = (f"UPDATE {table} SET heartbeat_at = now() WHERE id = "
           f"(SELECT id FROM {table} WHERE id = %s AND status = %s FOR UPDATE SKIP LOCKED)")
    try:
        while not stop.wait(settings.HEARTBEAT_SECONDS):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql, [pk, RUNNING])
            except DatabaseError as error:
                log.warning("could not stamp the heartbeat of %s %s: %s",
                            model._meta.verbose_name, pk, error)
                connection.close()
    finally:
        connection.close()  # this thread's own connection


def stale_before(now=None):
    return (now or timezone.now()) - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)


def stalled(model, now=None):
    """Jobs still running whose heartbeat stopped: their worker is gone."""
    return model.objects.filter(status=RUNNING, heartbeat_at__lt=stale_before(now))


def requeue_stalled(model, send, now=None):
    """Put running jobs whose heartbeat stopped back to queued, and send them and the jobs
    queued as long again with `send(pk)`; returns their ids. Each job is sent at most once per
    HEARTBEAT_STALE_SECONDS (its heartbeat_at is set to now)."""
    now = now or timezone.now()
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, heartbeat_at = %s "
            f"WHERE status IN (%s, %s) AND (heartbeat_at < %s OR heartbeat_at IS NULL) "
            f"RETURNING id",
            [QUEUED, now, QUEUED, RUNNING, stale_before(now)],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    for pk in ids:
        log.info("%s %s has not moved for %s s: queued again", model._meta.verbose_name, pk,
                 settings.HEARTBEAT_STALE_SECONDS)
        send(pk)
    return ids
