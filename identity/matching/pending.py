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
"""

import atexit
import logging
import os
import threading
import time

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

log = logging.getLogger(__name__)

_LEAVE = (
    "INSERT INTO identity_pendingdetection (profile_id) SELECT unnest(%s::bigint[])"
)
_TAKE = """
    SELECT DISTINCT profile_id FROM (
        SELECT profile_id FROM identity_pendingdetection ORDER BY id LIMIT %s
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
    """Run incremental detection for every profile in the outbox; returns how many profiles."""
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
