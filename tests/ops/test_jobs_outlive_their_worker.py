"""A full detection run whose worker is SIGKILLed finishes on a new worker within minutes (its
heartbeat stops, the beat queues it again), /healthz says it is stuck meanwhile, and
`detect_duplicates` follows it to the end; without any worker it stops waiting and says why."""

import os
import signal
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from identity.matching.detect import DETECTION_LOCK
from identity.models import DetectionRun, DuplicateCandidate
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from tests.conftest import ROOT, database_url, server_env, worker_process
from tests.factories import wait_for
from tests.ops.servers import beat_process, redis_server

pytestmark = pytest.mark.django_db(transaction=True)

HOUSEHOLDS = 50
# Short enough for a test: a heartbeat a second, silent for 4 s is stuck, the beat every second.
QUICK = {"HEARTBEAT_SECONDS": "1", "HEARTBEAT_STALE_SECONDS": "4", "RECOVERY_SECONDS": "1"}


@pytest.fixture
def households():
    types = identifier_types()
    resolve_writes([
        parse_write({"record": {"email": f"{who}{n}@example.com", "phone": f"+1212555{n:04}"},
                     "matchKey": "email"}, types=types)
        for n in range(HOUSEHOLDS) for who in ("ann", "bob")
    ])


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own: no other worker takes its tasks, nor its beat's."""
    with redis_server(tmp_path) as server:
        yield server


def detect_duplicates(env):
    return subprocess.Popen([sys.executable, "manage.py", "detect_duplicates"], cwd=ROOT,
                            env=server_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_run_whose_worker_is_killed_finishes_on_a_new_worker(
    households, own_redis, tmp_path, client, settings
):
    env = {"REDIS_URL": own_redis.url, **QUICK}
    # Another connection holds the lock detection saves under: the run waits there, running.
    holder = psycopg.connect(database_url(connection.settings_dict), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [DETECTION_LOCK])
    try:
        with worker_process(**env) as first:
            # The command allows HEARTBEAT_STALE_SECONDS + RECOVERY_SECONDS of silence; its
            # own RECOVERY_SECONDS gives the test time to read /healthz before a new worker.
            command = detect_duplicates({**env, "RECOVERY_SECONDS": "120"})
            assert wait_for(lambda: DetectionRun.objects.filter(
                status="running", stage="saving candidates").exists())
            run = DetectionRun.objects.get()
            # Its heartbeat goes on while it waits.
            assert wait_for(lambda: DetectionRun.objects.get().heartbeat_at > run.heartbeat_at)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    finally:
        holder.close()
    assert DetectionRun.objects.get().status == "running"

    settings.HEARTBEAT_STALE_SECONDS = 4
    assert wait_for(lambda: client.get("/healthz").json()["stalledJobs"], seconds=30)
    health = client.get("/healthz").json()
    assert health["stalledJobs"] == [{
        "kind": "detection_run", "id": run.pk,
        "lastHeartbeat": DetectionRun.objects.get().heartbeat_at.isoformat(),
    }]
    assert health["status"] != "ok"

    with worker_process(**env), beat_process(tmp_path, **env):
        output, errors = command.communicate(timeout=180)

    assert command.returncode == 0, errors
    run = DetectionRun.objects.get()
    assert (run.status, run.progress) == ("succeeded", 100)
    assert f"Detection run {run.pk}: {HOUSEHOLDS} groups, {HOUSEHOLDS} new" in output
    assert DuplicateCandidate.objects.filter(status="open").count() == HOUSEHOLDS
    assert client.get("/healthz").json()["stalledJobs"] == []


def test_detect_duplicates_without_a_worker_stops_waiting_and_says_why(households, own_redis):
    command = detect_duplicates({"REDIS_URL": own_redis.url, **QUICK})

    output, errors = command.communicate(timeout=120)

    assert command.returncode != 0
    run = DetectionRun.objects.get()
    assert f"Detection run {run.pk} queued." in output
    assert f"detection run {run.pk} has been waiting" in errors
    assert "no worker has taken it" in errors and "celery -A config worker -B" in errors
    assert run.status == "queued"  # still there: a worker started later runs it
