"""Identifier-type jobs whose worker died: the heartbeat stops, the beat queues them again and a
worker finishes them; a job whose worker still beats is left alone, and /healthz names the
stuck one meanwhile."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import IdentifierType, IdentifierTypeJob
from identity.tasks import resume_stalled_jobs
from tests.factories import wait_for
from tests.identity.conftest import detect

pytestmark = pytest.mark.django_db(transaction=True)


def job(*, status, heartbeat_ago):
    beat = timezone.now() - heartbeat_ago
    return IdentifierTypeJob.objects.create(
        identifier_type=IdentifierType.objects.get(key="loyalty_card"), kind="recompute",
        changes={"do_not_merge": True}, status=status, started_at=beat, heartbeat_at=beat,
    )


def test_a_job_whose_heartbeat_stopped_is_queued_again_and_finishes(
    celery_worker, household, client, settings
):
    settings.HEARTBEAT_STALE_SECONDS = 120
    detect()
    dead = job(status="running", heartbeat_ago=timedelta(minutes=10))
    alive = job(status="running", heartbeat_ago=timedelta(seconds=5))
    assert [(j["kind"], j["id"]) for j in client.get("/healthz").json()["stalledJobs"]] == [
        ("identifier_type_job", dead.pk)
    ]

    resume_stalled_jobs.apply()  # what the beat does every RECOVERY_SECONDS

    assert wait_for(lambda: IdentifierTypeJob.objects.get(pk=dead.pk).status == "succeeded")
    finished = IdentifierTypeJob.objects.get(pk=dead.pk)
    assert finished.done == finished.total > 0  # the household's candidate, recomputed
    assert IdentifierTypeJob.objects.get(pk=alive.pk).status == "running"
    assert client.get("/healthz").json()["stalledJobs"] == []


def test_a_job_whose_message_was_lost_is_sent_again(celery_worker, household, settings):
    settings.HEARTBEAT_STALE_SECONDS = 120
    lost = job(status="queued", heartbeat_ago=timedelta(minutes=3))
    just_queued = job(status="queued", heartbeat_ago=timedelta(seconds=1))

    resume_stalled_jobs.apply()

    assert wait_for(lambda: IdentifierTypeJob.objects.get(pk=lost.pk).status == "succeeded")
    assert IdentifierTypeJob.objects.get(pk=just_queued.pk).status == "queued"  # message coming
