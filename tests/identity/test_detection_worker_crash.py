"""A worker killed while draining the profiles left for detection: the next worker finishes."""

import pytest

from config.celery import app as celery_app
from identity import broker
from identity.matching.pending import SCHEDULED_KEY
from identity.models import CandidateMember, DuplicateCandidate, PendingDetection
from identity.tasks import detect_pending_profiles
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from profiles.models import Profile
from tests.conftest import kill, worker_process
from tests.factories import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HOUSEHOLDS = 2000
KILLED_WORKER = "mergeguard-killed-worker"
QUEUE = "detection-crash-test"  # a queue of its own: the session's worker must not take it


@pytest.fixture
def no_drain_woken(settings):
    """As if a drain task were queued already: the writes wake none on the default queue (which
    the session's worker serves); this test sends its own to a queue of its own."""
    settings.DETECT_ON_WRITE = True
    client = broker.client(settings.REDIS_URL)
    client.set(SCHEDULED_KEY, 1, px=600_000)
    yield
    client.delete(SCHEDULED_KEY)


def test_a_worker_killed_while_draining_leaves_the_rest_to_the_next_worker(no_drain_woken):
    types = identifier_types()
    celery_app.control.purge()  # no drain task an earlier test left waiting
    with worker_process("-Q", QUEUE, PGAPPNAME=KILLED_WORKER) as first:
        # Written once the worker is up: a drain an earlier test left running is done by now.
        resolve_writes([
            parse_write({"record": {"email": f"{who}{n}@example.com",
                                    "phone": f"+1212555{n:04}"}, "matchKey": "email"},
                        types=types)
            for n in range(HOUSEHOLDS) for who in ("ann", "bob")
        ])
        everyone = set(Profile.objects.values_list("pk", flat=True))
        assert set(PendingDetection.objects.values_list("profile_id", flat=True)) == everyone
        detect_pending_profiles.apply_async(queue=QUEUE)
        assert wait_for(lambda: DuplicateCandidate.objects.exists(), every=0.02)
        kill(first, KILLED_WORKER)

    found = DuplicateCandidate.objects.count()
    assert 0 < found < HOUSEHOLDS, "the worker was to be killed halfway through"
    # The chunk it was on rolled back with it: every profile without its candidate is still
    # in the outbox, not lost.
    in_candidates = set(CandidateMember.objects.values_list("profile_id", flat=True))
    assert everyone - in_candidates <= set(
        PendingDetection.objects.values_list("profile_id", flat=True))

    # The next drain (the beat sends one every RECOVERY_SECONDS) finishes the rest.
    with worker_process("-Q", QUEUE):
        detect_pending_profiles.apply_async(queue=QUEUE)
        assert wait_for(lambda: not PendingDetection.objects.exists(), every=0.2)

    assert DuplicateCandidate.objects.filter(status="open").count() == HOUSEHOLDS
    phones = {c.evidence[0]["value"] for c in DuplicateCandidate.objects.all()}
    assert len(phones) == HOUSEHOLDS
