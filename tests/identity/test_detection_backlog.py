"""A backlog too large for incremental detection (a bulk load through the API) goes to one full
detection run, which takes over the outbox rows it saw and leaves the later ones to the drain."""

import pytest

from identity import broker
from identity.matching import detect
from identity.matching.pending import SCHEDULED_KEY, drain
from identity.models import DetectionRun, DuplicateCandidate, PendingDetection
from tests.factories import write

pytestmark = pytest.mark.django_db(transaction=True)

SHARED_PHONE = "(212) 555-0111"


@pytest.fixture
def backlog(settings):
    """Writes leave their profiles pending and wake no task (one is marked queued already), so
    the test drains the outbox itself; a backlog of three profiles is large."""
    settings.DETECT_ON_WRITE = True
    settings.DETECTION_BACKLOG_FULL_RUN = 3
    client = broker.client(settings.REDIS_URL)
    client.set(SCHEDULED_KEY, 1, px=60_000)
    yield
    client.delete(SCHEDULED_KEY)


def customers_sharing_a_phone(*names):
    return {write({"email": f"{name}@example.com", "phone": SHARED_PHONE}, "email").profile_id
            for name in names}


def members(candidate):
    return set(candidate.profiles.values_list("pk", flat=True))


def open_candidate():
    return DuplicateCandidate.objects.get(status=DuplicateCandidate.Status.OPEN)


def test_a_large_backlog_is_detected_by_one_full_run(backlog):
    household = customers_sharing_a_phone("ann", "bea", "cy")
    write({"email": "dee@example.com"}, "email")

    assert drain() == 4

    run = DetectionRun.objects.get()
    assert run.status == DetectionRun.Status.SUCCEEDED
    assert members(open_candidate()) == household
    assert not PendingDetection.objects.exists()


def test_a_small_backlog_is_detected_profile_by_profile(backlog):
    household = customers_sharing_a_phone("ann", "bea")

    assert drain() == 2

    assert not DetectionRun.objects.exists()
    assert members(open_candidate()) == household
    assert not PendingDetection.objects.exists()


def test_writes_during_the_full_run_wait_for_the_next_drain(backlog, monkeypatch):
    customers_sharing_a_phone("ann", "bea", "cy", "dee")
    detect_all = detect.detect_all
    late = set()

    def a_write_arrives_meanwhile(**options):
        figures = detect_all(**options)  # the run has read the profiles: Eve comes too late
        late.add(write({"email": "eve@example.com", "phone": SHARED_PHONE}, "email").profile_id)
        return figures

    monkeypatch.setattr(detect, "detect_all", a_write_arrives_meanwhile)

    drain()

    # The run saw the four and took their rows; Eve's row, written after, waits for a drain.
    assert set(PendingDetection.objects.values_list("profile_id", flat=True)) == late
    assert PendingDetection.objects.get().run_id is None
    assert len(members(open_candidate())) == 4

    monkeypatch.setattr(detect, "detect_all", detect_all)
    assert drain() == 1  # one profile: detected incrementally

    assert DetectionRun.objects.count() == 1
    assert len(members(open_candidate())) == 5
    assert not PendingDetection.objects.exists()


def test_a_failed_full_run_gives_the_backlog_back(backlog, monkeypatch, settings):
    household = customers_sharing_a_phone("ann", "bea", "cy")

    def fails(**options):
        raise RuntimeError("the worker ran out of memory")

    monkeypatch.setattr(detect, "detect_all", fails)
    with pytest.raises(RuntimeError):
        drain()

    run = DetectionRun.objects.get()
    assert run.status == DetectionRun.Status.FAILED
    assert not PendingDetection.objects.filter(run_id__isnull=False).exists()
    assert set(PendingDetection.objects.values_list("profile_id", flat=True)) == household

    settings.DETECTION_BACKLOG_FULL_RUN = 0  # never: incremental detection takes them
    assert drain() == 3
    assert members(open_candidate()) == household


def test_the_drain_leaves_a_backlog_alone_while_a_full_run_has_it(backlog):
    customers_sharing_a_phone("ann", "bea", "cy")
    run = DetectionRun.objects.create(status=DetectionRun.Status.RUNNING)
    PendingDetection.objects.update(run_id=run.pk)  # as a run whose worker is still at it
    customers_sharing_a_phone("dee")

    assert drain() == 0

    assert PendingDetection.objects.count() == 4
    assert not DuplicateCandidate.objects.exists()
