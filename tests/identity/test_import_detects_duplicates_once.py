"""An import leaves duplicate detection to one run at its end: its rows queue none one by one,
and the review queue is ready when `import_profiles` returns (`--no-detect` skips it)."""

import io

import pytest
from django.core.management import call_command

from identity.models import (
    BulkLoad,
    BulkLoadProfile,
    DuplicateCandidate,
    Identifier,
    PendingDetection,
)
from identity.writing import loads
from tests.factories import population, write

HEADER = "first_name,last_name,email,phone\n"
# Two people of one household: a shared phone, a suspected duplicate for a steward to review.
COUPLE = "Ann,Lee,ann@example.com,(212) 555-0134\nBen,Lee,ben@example.com,212.555.0134\n"


def run_import(tmp_path, text, *args):
    path = tmp_path / "people.csv"
    path.write_text(HEADER + text)
    out = io.StringIO()
    call_command("import_profiles", str(path), "--match-key", "email", *args, stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


def open_groups():
    """The open candidates, each as its profiles' emails."""
    return [
        sorted(Identifier.objects.filter(profile__in=c.profiles.all(), type__key="email")
               .values_list("value", flat=True))
        for c in DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN)
    ]


@pytest.mark.django_db
def test_the_review_queue_is_ready_when_the_import_ends(tmp_path, settings):
    settings.DETECT_ON_WRITE = True

    out = run_import(tmp_path, COUPLE)

    assert open_groups() == [["ann@example.com", "ben@example.com"]]
    assert "Duplicate detection (full run) over 2 profiles" in out
    assert "the review queue is ready" in out
    # Nothing was left for the worker: the rows queued no detection of their own.
    assert not PendingDetection.objects.exists()
    assert BulkLoad.objects.get().detected_at is not None


@pytest.mark.django_db
def test_a_small_import_into_a_large_table_detects_only_its_profiles(tmp_path, settings):
    settings.DETECT_ON_WRITE = True
    population(100)
    write({"email": "cy@example.com", "phone": "+1 212 555 0199"}, "email")
    PendingDetection.objects.all().delete()  # as the worker would have: only the import's count

    out = run_import(tmp_path, COUPLE + "Cy,Roe,cy@example.com,\n")

    assert "Duplicate detection (incremental) over 3 profiles" in out
    assert ["ann@example.com", "ben@example.com"] in open_groups()
    assert not PendingDetection.objects.exists()


@pytest.mark.django_db
def test_no_detect_skips_detection_and_leaves_nothing_pending(tmp_path, settings):
    settings.DETECT_ON_WRITE = True

    out = run_import(tmp_path, COUPLE, "--no-detect")

    assert "Duplicate detection skipped (--no-detect)" in out
    assert Identifier.objects.filter(type__key="phone").count() == 2
    assert not DuplicateCandidate.objects.exists()
    assert not PendingDetection.objects.exists()


@pytest.mark.django_db
def test_an_import_takes_over_the_profiles_of_a_load_that_was_killed(tmp_path, settings):
    settings.DETECT_ON_WRITE = True
    population(100)
    # A load that never reached its end (its process killed): its profiles are listed, its
    # advisory lock gone with its session.
    run_import(tmp_path, COUPLE, "--no-detect")
    killed = BulkLoad.objects.create(source="earlier.csv")
    killed_profiles = Identifier.objects.filter(type__key="phone").values_list("profile_id",
                                                                              flat=True)
    BulkLoadProfile.objects.bulk_create(
        [BulkLoadProfile(load=killed, profile_id=pk) for pk in killed_profiles]
    )

    out = run_import(tmp_path, "Cy,Roe,cy@example.com,\n")

    assert "Duplicate detection (incremental) over 3 profiles" in out
    assert ["ann@example.com", "ben@example.com"] in open_groups()
    killed.refresh_from_db()
    assert killed.detected_at is not None
    assert not BulkLoadProfile.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_load_lists_no_more_profiles_once_its_detection_is_sure_to_be_a_full_run(
    tmp_path, settings, monkeypatch
):
    # Past FULL_RUN_PROFILES listed, the detection at its end is a full run whatever else the
    # load touches: its later batches list nothing, and the household at the end is found.
    settings.DETECT_ON_WRITE = True
    monkeypatch.setattr(loads, "FULL_RUN_PROFILES", 4)
    counted = []
    count = loads._count
    monkeypatch.setattr(loads, "_count", lambda ids: counted.append(count(ids)) or counted[-1])
    people = "".join(f"P{n},Roe,p{n}@example.com,\n" for n in range(20))

    out = run_import(tmp_path, people + COUPLE, "--batch-size", "2")

    assert 4 <= counted[0] < 12  # stopped with the batches in flight, not all 22
    assert "Duplicate detection (full run) over 22 profiles" in out  # every one, listed or not
    assert open_groups() == [["ann@example.com", "ben@example.com"]]
    assert not BulkLoadProfile.objects.exists()
