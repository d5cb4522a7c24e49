"""Loads: an import whose writes leave duplicate detection to one run at its end.

Incremental detection after each batch of a million-row file costs more than the import itself,
and a worker doing it takes a core from the import. So a load's batches pass `detect=False` to
`profiles_changed` and instead list the profiles they touched in identity_bulkloadprofile (in the
batch's own transaction: a committed batch is listed, a rolled-back one is not). At its end the
load runs one detection over those profiles, or a full run when that costs less (FULL_RUN_SHARE);
once they are sure to be enough for a full run (FULL_RUN_PROFILES), its batches list no more.

A load holds a session advisory lock on its id while it runs. A load killed half-way (Ctrl-C,
SIGKILL) leaves its profiles listed and its lock released: the next load's detection takes them
over, so re-running the import leaves the queue as complete as one uninterrupted run would.
"""

import threading
from dataclasses import dataclass
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from identity.matching import detect
from identity.matching.runs import FULL_RUN_SHARE, execute_detection_run
from identity.models import BulkLoad, DetectionRun
from identity.writing.cursors import prepared_cursor
from profiles.models import Profile

LOAD_LOCK = 0x6D67_6C64  # "mgld": the advisory lock class of running loads (key: load id)
# A full detection run once the touched profiles are FULL_RUN_SHARE of the active ones
# (identity.matching.runs), or this many.
FULL_RUN_PROFILES = 20_000
INCREMENTAL_CHUNK = 100  # profiles per incremental detection transaction

_RECORD = """
    INSERT INTO identity_bulkloadprofile (load_id, profile_id)
    SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING
"""


@dataclass
class LoadDetection:
    profiles: int  # profiles detection looked at: the active ones, else the loads' touched ones
    full: bool  # a full run (else incremental over those profiles)
    run_id: int | None = None  # the DetectionRun of a full run


class Load:
    """One running load: `record` in each batch's transaction, then `detect` or `skip`."""

    def __init__(self, source):
        self.load = BulkLoad.objects.create(source=source[:100])
        self.listed = 0  # distinct profiles its committed batches listed
        self.listing = threading.Lock()  # batches commit in two threads (the importer's)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOAD_LOCK, self.load.pk])

    @property
    def id(self):
        return self.load.pk

    def record(self, profile_ids):
        """List these profiles as touched by the load (call inside the batch's transaction).

        Once its committed batches listed FULL_RUN_PROFILES, its detection is a full run
        whatever else it touches (and so is the detection of a load taking it over should it
        be killed): it lists no more."""
        if profile_ids and self.listed < FULL_RUN_PROFILES:
            with prepared_cursor() as cursor:
                cursor.execute(_RECORD, [self.load.pk, list(profile_ids)])
                transaction.on_commit(partial(self._listed, cursor.rowcount))

    def _listed(self, count):
        with self.listing:
            self.listed += count

    def detect(self, progress=None):
        """Detection over the profiles this load and interrupted ones touched; a LoadDetection.

        `progress(stage, percent)`, if given, is told how far it is.
        """
        progress = progress or (lambda stage, percent: None)
        self.load.finished_at = timezone.now()
        self.load.save(update_fields=["finished_at"])
        loads = [self.load.pk, *self._interrupted_loads()]
        try:
            count = _count(loads)
            active = Profile.objects.filter(status=Profile.Status.ACTIVE).count() if count else 0
            if count and count >= min(FULL_RUN_SHARE * active, FULL_RUN_PROFILES):
                run = DetectionRun.objects.create()
                execute_detection_run(run.pk, on_progress=progress)
                run.refresh_from_db()
                if run.status != DetectionRun.Status.SUCCEEDED:
                    raise RuntimeError(f"detection run {run.pk} failed: {run.error}")
                outcome = LoadDetection(profiles=active, full=True, run_id=run.pk)
            else:
                _detect_incrementally(loads, count, progress)
                outcome = LoadDetection(profiles=count, full=False)
            progress("done", 100)
            with transaction.atomic():
                BulkLoad.objects.filter(pk__in=loads).update(detected_at=timezone.now())
                with connection.cursor() as cursor:
                    cursor.execute(
                        "DELETE FROM identity_bulkloadprofile WHERE load_id = ANY(%s)", [loads]
                    )
            return outcome
        finally:
            self._unlock(loads)

    def skip(self):
        """End the load without detection (import_profiles --no-detect): its list goes."""
        self.load.finished_at = timezone.now()
        self.load.save(update_fields=["finished_at"])
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM identity_bulkloadprofile WHERE load_id = %s", [self.id])
        self._unlock([self.id])

    def _interrupted_loads(self):
        """Other loads whose profiles are still listed and whose process is gone (its lock is
        free): their locks are taken here, so that one load only takes them over."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH listed AS MATERIALIZED (
                    SELECT id FROM identity_bulkload l
                    WHERE detected_at IS NULL AND id <> %s AND EXISTS (
                        SELECT FROM identity_bulkloadprofile p WHERE p.load_id = l.id
                    )
                )
                SELECT id FROM listed WHERE pg_try_advisory_lock(%s, id::int) ORDER BY id
                """,
                [self.id, LOAD_LOCK],
            )
            return [row[0] for row in cursor.fetchall()]

    def _unlock(self, loads):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, k::int) FROM unnest(%s::bigint[]) AS k",
                [LOAD_LOCK, loads],
            )


def _count(loads):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT profile_id) FROM identity_bulkloadprofile "
            "WHERE load_id = ANY(%s)",
            [loads],
        )
        return cursor.fetchone()[0]


def _detect_incrementally(loads, count, progress):
    """Incremental detection over the loads' profiles, a chunk at a time in id order (keyset
    paging: memory flat in their number, each chunk its own transaction)."""
    done = 0
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT profile_id FROM identity_bulkloadprofile "
                "WHERE load_id = ANY(%s) AND profile_id > %s ORDER BY profile_id LIMIT %s",
                [loads, last, INCREMENTAL_CHUNK],
            )
            chunk = [row[0] for row in cursor.fetchall()]
        if not chunk:
            return
        detect.detect_for_profiles(chunk)
        last = chunk[-1]
        done += len(chunk)
        progress("detecting duplicates", min(99, done * 100 // max(count, 1)))
