"""Writes leave their profiles for incremental detection in an outbox table, in their own
transaction; one task takes them all, and a Redis that is down costs the write nothing."""

import threading
import time

import pytest
from django.db import connection, transaction

from identity import broker
from identity.matching.pending import SCHEDULED_KEY, WAKE_GATHER_SECONDS, drain
from identity.models import DuplicateCandidate, PendingDetection
from identity.tasks import detect_pending_profiles
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from tests.factories import make_token, post_json, write

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = "redis://127.0.0.1:1/0"  # nothing listens there


@pytest.fixture
def pending(settings):
    settings.DETECT_ON_WRITE = True
    client = broker.client(settings.REDIS_URL)
    client.delete(SCHEDULED_KEY)
    yield client
    client.delete(SCHEDULED_KEY)


def pending_profiles():
    return set(PendingDetection.objects.values_list("profile_id", flat=True))


def test_writes_leave_their_profiles_pending_and_the_task_finds_the_shared_phone(pending):
    # As if a drain task were queued already: the writes send none, and no running worker
    # takes the outbox before it is looked at.
    pending.set(SCHEDULED_KEY, 1, px=60_000)
    ann = write({"email": "ann@example.com", "phone": "(212) 555-0111"}, "email").profile_id
    bea = write({"email": "bea@example.com", "phone": "(212) 555-0111"}, "email").profile_id

    assert pending_profiles() == {ann, bea}
    # Each write's wake comes WAKE_GATHER_SECONDS after its commit (a thread of this process):
    # let them find the task marked queued before it runs, as they do when it waits in Redis.
    time.sleep(4 * WAKE_GATHER_SECONDS)

    detect_pending_profiles.apply()

    candidate = DuplicateCandidate.objects.get()
    assert set(candidate.profiles.values_list("pk", flat=True)) == {ann, bea}
    assert not PendingDetection.objects.exists()
    assert not pending.exists(SCHEDULED_KEY)  # the next write wakes a task of its own


def test_a_write_touching_nothing_leaves_nothing_pending(pending):
    write({"email": "ann@example.com"}, "email")
    PendingDetection.objects.all().delete()

    write({"email": "ann@example.com"}, "email")

    assert not PendingDetection.objects.exists()


def test_without_detect_on_write_nothing_is_queued(pending, settings):
    settings.DETECT_ON_WRITE = False

    write({"email": "ann@example.com"}, "email")

    assert not PendingDetection.objects.exists()


def test_a_write_rolled_back_leaves_nothing_pending(pending):
    with pytest.raises(RuntimeError), transaction.atomic():
        write({"email": "ann@example.com", "phone": "(212) 555-0111"}, "email")
        raise RuntimeError("the caller's transaction fails after the write")

    assert not PendingDetection.objects.exists()


def test_with_redis_down_an_api_write_answers_201_and_its_detection_waits(pending, client,
                                                                          settings):
    token = make_token()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = DOWN

    answers = [
        post_json(client, "/api/v1/profiles/upsert",
                  {"record": {"email": email, "phone": "(212) 555-0111"}, "matchKey": "email"},
                  token)
        for email in ("ann@example.com", "bea@example.com")
    ]

    assert [answer.status_code for answer in answers] == [201, 201]
    ids = {answer.json()["profileId"] for answer in answers}
    assert pending_profiles() == ids
    assert not DuplicateCandidate.objects.exists()

    drain()  # what the beat's drain does once Redis is back

    candidate = DuplicateCandidate.objects.get()
    assert set(candidate.profiles.values_list("pk", flat=True)) == ids


def test_two_drains_at_once_take_different_profiles_and_find_every_pair(pending):
    pending.set(SCHEDULED_KEY, 1, px=60_000)  # no drain woken for a worker: only these two
    households = 150
    types = identifier_types()
    resolve_writes([
        parse_write({"record": {"email": f"{who}{n}@example.com", "phone": f"+1212555{n:04}"},
                     "matchKey": "email"}, types=types)
        for n in range(households) for who in ("ann", "bob")
    ])
    assert len(pending_profiles()) == 2 * households
    start = threading.Barrier(2)
    errors = []

    def drain_in_a_thread():
        try:
            start.wait()
            drain(chunk=10)
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain_in_a_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert not PendingDetection.objects.exists()
    assert DuplicateCandidate.objects.filter(status="open").count() == households
    phones = {c.evidence[0]["value"] for c in DuplicateCandidate.objects.all()}
    assert len(phones) == households
