"""A worker killed while draining the profiles left for detection: the next worker finishes."""

import os
import signal
import time

import pytest

from identity.models import DuplicateCandidate
from identity.tasks import PENDING_KEY, SCHEDULED_KEY, _redis, detect_pending_profiles
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from tests.conftest import worker_process
from tests.factories import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HOUSEHOLDS = 2000
QUEUE = "detection-crash-test"  # a queue of its own: the session's worker must not take it



@pytest.fixture
def redis_client(settings):
    client = _redis(settings.REDIS_URL)
    client.delete(PENDING_KEY, SCHEDULED_KEY, *client.keys(f"{PENDING_KEY}:*"))
    yield client
    client.delete(PENDING_KEY, SCHEDULED_KEY, *client.keys(f"{PENDING_KEY}:*"))


def test_a_worker_killed_while_draining_leaves_the_rest_to_the_next_worker(redis_client):
    types = identifier_types()
    resolutions = resolve_writes([
        parse_write({"record": {"email": f"{who}{n}@example.com", "phone": f"+1212555{n:04}"},
                     "matchKey": "email"}, types=types)
        for n in range(HOUSEHOLDS) for who in ("ann", "bob")
    ])
    redis_client.sadd(PENDING_KEY, *(r.profile_id for r in resolutions))
    # Unacknowledged tasks come back after 2 s instead of an hour.
    with worker_process("-Q", QUEUE, CELERY_VISIBILITY_TIMEOUT="2") as first:
        detect_pending_profiles.apply_async(queue=QUEUE)
        assert wait_for(lambda: DuplicateCandidate.objects.exists(), every=0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

    found = DuplicateCandidate.objects.count()
    assert 0 < found < HOUSEHOLDS, "the worker was to be killed halfway through"
    assert not redis_client.exists(PENDING_KEY)  # taken by the killed task, not lost:
    assert redis_client.keys(f"{PENDING_KEY}:*")

    time.sleep(2.5)  # past the visibility timeout: the next worker gets the task again
    with worker_process("-Q", QUEUE, CELERY_VISIBILITY_TIMEOUT="2"):
        assert wait_for(lambda: DuplicateCandidate.objects.count() == HOUSEHOLDS, every=0.2)
        assert wait_for(lambda: not redis_client.keys(f"{PENDING_KEY}:*"))

    assert DuplicateCandidate.objects.filter(status="open").count() == HOUSEHOLDS
    phones = {c.evidence[0]["value"] for c in DuplicateCandidate.objects.all()}
    assert len(phones) == HOUSEHOLDS
