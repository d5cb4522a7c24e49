"""Incremental detection after writes, through an outbox in PostgreSQL.

A write leaves the profiles it touched in PendingDetection in its own transaction (one INSERT
per transaction's batch of profiles), so the need for detection is committed with the write and
survives a broker that is down. When the write commits, a drain task is woken through the
broker: one task for many writes (a short mark in Redis says one is queued and not yet
started), by a thread of the writing process, so that a write's answer never waits for Redis
and the commits of a few milliseconds share one wake. A broker that is down costs the write
nothing but a log line; the beat's drain every RECOVERY_SECONDS takes what was left.

The drain takes a chunk of profiles with `FOR UPDATE SKIP LOCKED`, deletes every row of them and
runs their detection in that same transaction: a worker killed half-way rolls back and leaves
the rows to the next drain, concurrent drains take different profiles, and a write committed
during a drain adds a row of its own for the next one. Writers never wait on a drain.

A backlog of DETECTION_BACKLOG_FULL_RUN profiles or more, and at least FULL_RUN_SHARE of the
active ones (identity.matching.runs; a bulk load through the API), costs a full detection run
less than incremental detection of each. The drain then hands it to one: in one transaction it
creates the DetectionRun and marks every row it sees with the run's id, and runs it. The run
deletes its rows in the transaction that records its success, or hands them back if it fails
(identity.matching.runs); a run whose worker died is sent again by the beat like any other.
Rows written meanwhile are not marked: the drains leave them until the run ends, and it wakes a
drain for them.
"""

import atexit
import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection, transaction

from identity import broker
from identity.matching import detect
from identity.writing.cursors import prepared_cursor

# Set while a drain task is queued and not yet started, so that writes queue one task, not one
# each. It expires soon, so that a task lost before it ran (a purged queue) holds up the next
# writes' detection for half a second at most; a task more is harmless.
SCHEDULED_KEY = "mergeguard:detect:scheduled"
SCHEDULED_MS = 500
DRAIN_CHUNK = 100  # profiles per transaction of the drain
WAKE_GATHER_SECONDS = 0.005  # commits this close together share one wake
BACKLOG_LOCK = 0x6D67_626B  # "mgbk": one drain at a time decides about the backlog

log = logging.getLogger(__name__)

_LEAVE = (
    "INSERT INTO identity_pendingdetection (profile_id) SELECT unnest(%s::bigint[])"
)
_TAKE = """
    SELECT DISTINCT profile_id FROM (
        SELECT profile_id FROM identity_pendingdetection WHERE run_id IS NULL ORDER BY id LIMIT %s
        FOR UPDATE SKIP LOCKED
    ) chunk
"""
_DELETE = """
    DELETE FROM identity_pendingdetection WHERE id IN (
        SELECT id FROM identity_pendingdetection WHERE profile_id = ANY(%s::bigint[])
        FOR UPDATE SKIP LOCKED
    )
"""


def leave_for_detection(profile_ids):
    """In the caller's transaction: these profiles need incremental detection. The drain task
    is woken when the transaction commits."""
    with prepared_cursor() as cursor:
        cursor.execute(_LEAVE, [list(profile_ids)])
    transaction.on_commit(wake_drain)


def wake_drain():
    """Have a worker drain the outbox soon; with the broker down, the beat's drain will.

    Returns at once: this process's waker thread talks to the broker."""
    _Waker.of_this_process().wanted.set()


def _wake_now():
    from identity.tasks import detect_pending_profiles

    if broker.mark(SCHEDULED_KEY, SCHEDULED_MS):
        broker.send(detect_pending_profiles)


class _Waker:
    """A daemon thread per process that wakes the drain when asked (`wanted`), at most once
    every WAKE_GATHER_SECONDS. A process ending with a wake asked for wakes the drain itself as
    it exits (an import command's last batch)."""

    _current = None
    _starting = threading.Lock()

    def __init__(self):
        self.pid = os.getpid()  # a forked child starts a waker of its own
        self.wanted = threading.Event()
        threading.Thread(target=self._run, name="detection-waker", daemon=True).start()
        atexit.register(self._at_exit)

    @classmethod
    def of_this_process(cls):
        waker = cls._current
        if waker is None or waker.pid != os.getpid():
            with cls._starting:
                waker = cls._current
                if waker is None or waker.pid != os.getpid():
                    waker = cls._current = cls()
        return waker

    def _run(self):
        while True:
            self.wanted.wait()
            time.sleep(WAKE_GATHER_SECONDS)
            self.wanted.clear()  # a commit after this point asks again
            self._wake()

    def _wake(self):
        try:
            _wake_now()
        except Exception:  # the outbox keeps the work: the beat's drain takes it
            log.exception("could not wake the detection drain")

    def _at_exit(self):
        if self.pid == os.getpid() and self.wanted.is_set():
            self.wanted.clear()
            self._wake()


def drain(chunk=DRAIN_CHUNK):
    """Run incremental detection for every profile in the outbox, or one full detection run
    when they are a large backlog; returns how many profiles."""
    backlog = _hand_backlog_to_a_full_run()
    if backlog is not None:
        return backlog
    done = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_TAKE, [chunk])
                profile_ids = sorted(row[0] for row in cursor.fetchall())
                if not profile_ids:
                    return done
                cursor.execute(_DELETE, [profile_ids])
            detect.detect_for_profiles(profile_ids)
        done += len(profile_ids)


def _hand_backlog_to_a_full_run():
    """None when the drain is to detect incrementally. Else 0 while a full run has the backlog
    (it wakes a drain when it ends), or the backlog's size once a full run of it succeeded in
    this process."""
    from identity.matching.runs import FULL_RUN_SHARE, execute_detection_run
    from identity.models import DetectionRun
    from profiles.models import Profile

    threshold = settings.DETECTION_BACKLOG_FULL_RUN
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BACKLOG_LOCK])
        cursor.execute("SELECT EXISTS (SELECT FROM identity_pendingdetection "
                       "WHERE run_id IS NOT NULL)")
        if cursor.fetchone()[0]:
            return 0
        if not threshold:
            return None
        cursor.execute("SELECT count(*) FROM (SELECT FROM identity_pendingdetection "
                       "WHERE run_id IS NULL LIMIT %s) AS backlog", [threshold])
        if cursor.fetchone()[0] < threshold:
            return None
        cursor.execute("SELECT count(DISTINCT profile_id) FROM identity_pendingdetection")
        backlog = cursor.fetchone()[0]
        active = Profile.objects.filter(status=Profile.Status.ACTIVE).count()
        if backlog < threshold or backlog < FULL_RUN_SHARE * active:
            return None
        run = DetectionRun.objects.create()
        cursor.execute("UPDATE identity_pendingdetection SET run_id = %s WHERE run_id IS NULL",
                       [run.pk])
    log.info("%s profiles wait for detection: full detection run %s takes them", backlog, run.pk)
    execute_detection_run(run.pk)
    return backlog


def end_full_run(run_id, *, succeeded):
    """In the transaction that records a full run's end: the outbox rows it took over are done
    (deleted) or handed back to incremental detection; a drain is woken for what waited."""
    with connection.cursor() as cursor:
        if succeeded:
            cursor.execute("DELETE FROM identity_pendingdetection WHERE run_id = %s", [run_id])
        else:
            cursor.execute(
                "UPDATE identity_pendingdetection SET run_id = NULL WHERE run_id = %s", [run_id]
            )
        if cursor.rowcount:
            transaction.on_commit(wake_drain)
