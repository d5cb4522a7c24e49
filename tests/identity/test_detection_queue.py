"""Writes leave their profiles for incremental detection in Redis; one task takes them all."""

import pytest
from django.conf import settings

from identity.models import DuplicateCandidate
from identity.tasks import PENDING_KEY, SCHEDULED_KEY, _redis, detect_pending_profiles
from tests.factories import write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pending(settings):
    settings.DETECT_ON_WRITE = True
    client = _redis(settings.REDIS_URL)
    client.delete(PENDING_KEY, SCHEDULED_KEY)
    yield client
    client.delete(PENDING_KEY, SCHEDULED_KEY)


def test_writes_leave_their_profiles_pending_and_the_task_finds_the_shared_phone(pending):
    # As if a drain task were queued already: the writes send none, and no running worker
    # takes the set before it is looked at.
    pending.set(SCHEDULED_KEY, 1, px=60_000)
    ann = write({"email": "ann@example.com", "phone": "(212) 555-0111"}, "email").profile_id
    bea = write({"email": "bea@example.com", "phone": "(212) 555-0111"}, "email").profile_id

    assert {int(pk) for pk in pending.smembers(PENDING_KEY)} == {ann, bea}
    assert pending.exists(SCHEDULED_KEY)

    detect_pending_profiles.apply()

    candidate = DuplicateCandidate.objects.get()
    assert set(candidate.profiles.values_list("pk", flat=True)) == {ann, bea}
    assert not pending.exists(PENDING_KEY)


def test_a_write_touching_nothing_leaves_nothing_pending(pending):
    write({"email": "ann@example.com"}, "email")
    pending.delete(PENDING_KEY)

    write({"email": "ann@example.com"}, "email")

    assert not pending.exists(PENDING_KEY)


def test_without_detect_on_write_nothing_is_queued(pending):
    settings.DETECT_ON_WRITE = False

    write({"email": "ann@example.com"}, "email")

    assert not pending.exists(PENDING_KEY)
