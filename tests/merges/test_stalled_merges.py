"""A merge job left running by a worker that died is resumed within minutes; a merge its worker
still runs (it holds the job's row) is not, and /healthz names only the stuck one."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from merges.models import MergeJob
from merges.services import jobs_to_resume
from tests.conftest import database_url
from tests.factories import write

pytestmark = pytest.mark.django_db(transaction=True)


def running_job(survivor, merged, started):
    return MergeJob.objects.create(survivor_id=survivor, merged_profile_ids=[merged],
                                   status="running", started_at=started)


def test_only_the_running_merge_whose_row_is_free_is_resumed(ken, client, settings):
    settings.HEARTBEAT_STALE_SECONDS = 120
    three_minutes_ago = timezone.now() - timedelta(minutes=3)
    dead = running_job(*ken, three_minutes_ago)
    ann = write({"email": "ann@example.com"}, "email").profile_id
    bea = write({"email": "bea@example.com"}, "email").profile_id
    alive = running_job(ann, bea, three_minutes_ago)
    # The worker running `alive` holds its row until its merge commits.
    worker = psycopg.connect(database_url(connection.settings_dict))
    worker.execute("SELECT id FROM merges_mergejob WHERE id = %s FOR UPDATE", [alive.pk])
    try:
        resumed = jobs_to_resume()
        stalled = client.get("/healthz").json()["stalledJobs"]
    finally:
        worker.close()

    assert resumed == [dead.pk]
    assert [(job["kind"], job["id"]) for job in stalled] == [("merge_job", dead.pk)]


def test_a_merge_running_for_less_than_the_stale_time_is_left_to_its_worker(ken, settings):
    settings.HEARTBEAT_STALE_SECONDS = 120
    running_job(*ken, timezone.now() - timedelta(seconds=30))

    assert jobs_to_resume() == []
