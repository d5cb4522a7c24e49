"""Merging profiles (SPEC 6): one service, one transaction, the survivor holds everything."""

import threading

import pytest
from django.db import connection

from identity.models import DuplicateCandidate, Identifier, ProfileFeatures
from merges.models import AuditEntry, MergeJob
from merges.services import MergeRefused, execute_merge, request_merge
from profiles.models import Profile, ProfileEvent
from tests.factories import identifiers_of, write
from tests.identity.conftest import candidate_of, detect
from tests.merges.conftest import events, merge

pytestmark = pytest.mark.django_db


def test_a_pair_merges_into_the_survivor_with_every_identifier_and_event(steward, okafors):
    online, till = okafors

    job = merge([online, till], steward, survivor_id=online)

    assert job.status == MergeJob.Status.SUCCEEDED
    assert identifiers_of(online) == {
        "customer_id": ["C-1004"], "email": ["ken.okafor@example.com"], "phone": ["+16465550199"],
    }
    assert ProfileEvent.objects.filter(profile_id=online).count() == 8
    tombstone = Profile.objects.get(pk=till)
    assert (tombstone.status, tombstone.merged_into_id) == ("merged", online)
    assert not ProfileFeatures.objects.filter(profile_id=till).exists()
    assert job.summary["events"] == 5 and job.summary["tombstones"] == 1
    assert job.summary["identifiers_kept_once"] == 1  # the phone both held


def test_the_default_survivor_is_the_one_holding_access_contacts(steward, db):
    shop = write({"email": "amy@example.com", "first_name": "Amy"}, "email",
                 accessContacts=["email"]).profile_id
    till = write({"customer_id": "C-7", "first_name": "Amy"}, "customer_id").profile_id
    events(till, 9)

    job = request_merge(profile_ids=[till, shop], actor=steward)

    assert job.survivor_id == shop
    assert job.survivor_rule == "it holds the account's access contacts"


def test_without_access_contacts_the_profile_with_most_events_survives_else_the_oldest(
    steward, okafors
):
    online, till = okafors  # till has 5 events, online 3
    assert request_merge(profile_ids=[online, till], actor=steward).survivor_id == till
    MergeJob.objects.all().delete()
    ProfileEvent.objects.all().delete()

    job = request_merge(profile_ids=[online, till], actor=steward)

    assert (job.survivor_id, job.survivor_rule) == (online, "it is the oldest profile")


def test_each_differing_field_keeps_the_chosen_value(steward, okafors):
    online, till = okafors  # Ken and Kenneth

    merge([online, till], steward, survivor_id=online, field_choices={"first_name": till})

    assert Profile.objects.get(pk=online).attribute("first_name") == "Kenneth"
    assert ProfileFeatures.objects.get(profile_id=online).first_name == "kenneth"


def test_a_ten_profile_group_merges_in_one_job(steward, db):
    ids = [write({"email": f"p{n}@example.com", "phone": "+12125550100",
                  "first_name": "Pat"}, "email").profile_id for n in range(10)]
    for pk in ids:
        events(pk, 2)

    job = merge(ids, steward, survivor_id=ids[0])

    assert job.status == "succeeded" and MergeJob.objects.count() == 1
    assert Profile.objects.filter(status="active", pk__in=ids).count() == 1
    assert len(identifiers_of(ids[0])["email"]) == 10
    assert identifiers_of(ids[0])["phone"] == ["+12125550100"]
    assert ProfileEvent.objects.filter(profile_id=ids[0]).count() == 20


def test_a_single_valued_id_of_the_survivor_stays_current_the_others_become_previous(
    senior, db
):
    a = write({"email": "a@example.com", "external_id": "X-1"}, "email").profile_id
    b = write({"email": "b@example.com", "external_id": "X-2"}, "email").profile_id

    merge([a, b], senior, survivor_id=a,
          justifications={"unique_id_conflict": "one customer, two shop systems"})

    assert identifiers_of(a, current=True)["external_id"] == ["X-1"]
    assert identifiers_of(a, current=False)["external_id"] == ["X-2"]


def test_chains_collapse_what_was_merged_into_a_merged_profile_points_to_the_survivor(
    steward, db
):
    a, b, c = (write({"email": f"{n}@example.com"}, "email").profile_id for n in "abc")
    merge([a, b], steward, survivor_id=b)

    merge([b, c], steward, survivor_id=c)

    assert Profile.objects.get(pk=a).merged_into_id == c
    assert Profile.objects.get(pk=b).merged_into_id == c


def test_the_candidate_merged_closes_and_a_candidate_with_others_now_holds_the_survivor(
    steward, db
):
    a = write({"email": "a@example.com", "phone": "+12125550111"}, "email").profile_id
    b = write({"email": "b@example.com", "phone": "+12125550111"}, "email").profile_id
    c = write({"email": "c@example.com", "phone": "+12125550122"}, "email").profile_id
    d = write({"email": "d@example.com", "phone": "+12125550122"}, "email").profile_id
    detect()
    ab, cd = candidate_of(a, b), candidate_of(c, d)

    merge([a, b], steward, survivor_id=a, candidate_id=ab.pk)
    merge([a, c], steward, survivor_id=a)

    ab.refresh_from_db()
    cd.refresh_from_db()
    assert ab.status == "merged" and ab.closed_at
    assert cd.status == "open"
    assert set(cd.profiles.values_list("pk", flat=True)) == {a, d}


def test_a_steward_cannot_merge_a_blocked_group(steward, household):
    with pytest.raises(MergeRefused) as refused:
        request_merge(profile_ids=household, actor=steward)

    assert refused.value.status == 403
    assert "Different loyalty cards" in str(refused.value)
    assert not MergeJob.objects.exists()


def test_a_senior_merges_a_blocked_group_only_with_a_justification_kept_with_the_job(
    senior, household
):
    with pytest.raises(MergeRefused) as refused:
        request_merge(profile_ids=household, actor=senior)
    assert refused.value.code == "acknowledgement_required"

    job = merge(household, senior,
                justifications={"unique_id_conflict": "same person, card replaced",
                                "access_contact_mismatch": "she uses both"})

    assert job.status == "succeeded"
    assert {a["code"]: a["justification"] for a in job.acknowledged_reasons} == {
        "unique_id_conflict": "same person, card replaced",
        "access_contact_mismatch": "she uses both",
    }
    override = AuditEntry.objects.get(action="merge.override")
    assert override.targets["merge_job"] == job.pk


def test_a_reason_that_appears_after_confirmation_fails_the_job_naming_it(steward, okafors):
    online, till = okafors
    job = request_merge(profile_ids=[online, till], actor=steward)
    write({"email": "ken.okafor@example.com", "loyalty_card": "LC-1"}, "email")
    write({"customer_id": "C-1004", "loyalty_card": "LC-2"}, "customer_id")

    job = execute_merge(job.pk)

    assert job.status == "failed"
    assert "Different loyalty cards" in job.error
    assert Profile.objects.filter(pk__in=[online, till], status="active").count() == 2
    assert ProfileEvent.objects.filter(profile_id=till).count() == 5
    assert AuditEntry.objects.filter(action="merge.failed").exists()


def test_a_finished_job_delivered_again_does_nothing(steward, okafors):
    online, till = okafors
    job = merge([online, till], steward)
    entries = AuditEntry.objects.count()

    again = execute_merge(job.pk)

    assert again.status == "succeeded" and again.finished_at == job.finished_at
    assert AuditEntry.objects.count() == entries


def test_a_profile_in_a_queued_merge_joins_no_other(steward, okafors, db):
    online, till = okafors
    other = write({"email": "ken.other@example.com"}, "email").profile_id
    request_merge(profile_ids=[online, till], actor=steward)

    with pytest.raises(MergeRefused) as refused:
        request_merge(profile_ids=[till, other], actor=steward)

    assert refused.value.status == 409
    assert "merge job" in str(refused.value)


def test_an_already_merged_profile_cannot_be_merged_again(steward, okafors):
    online, till = okafors
    merge([online, till], steward, survivor_id=online)

    with pytest.raises(MergeRefused) as refused:
        request_merge(profile_ids=[online, till], actor=steward)

    assert refused.value.status == 409
    assert f"Profile {till} is already merged into profile {online}" in str(refused.value)


@pytest.mark.django_db(transaction=True)
def test_two_jobs_on_overlapping_profiles_never_deadlock_nor_half_merge(steward):
    a, b, c = (write({"email": f"{n}@example.com", "phone": "+12125550199"}, "email").profile_id
               for n in "abc")
    for pk in (a, b, c):
        events(pk, 50)
    # Made directly: requests would refuse the second (merge in progress); redelivered or
    # raced jobs reach the service like this.
    first = MergeJob.objects.create(survivor_id=a, merged_profile_ids=[b], requested_by=steward)
    second = MergeJob.objects.create(survivor_id=c, merged_profile_ids=[b], requested_by=steward)
    barrier = threading.Barrier(2)
    outcomes = {}

    def run(job):
        barrier.wait()
        try:
            outcomes[job.pk] = execute_merge(job.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(job.status for job in outcomes.values())
    assert statuses == ["failed", "succeeded"]
    failed = next(job for job in outcomes.values() if job.status == "failed")
    assert f"profile {b} was merged into profile" in failed.error
    b_profile = Profile.objects.get(pk=b)
    survivor = b_profile.merged_into_id
    assert ProfileEvent.objects.filter(profile_id=survivor).count() == 100
    assert ProfileEvent.objects.filter(profile_id=b).count() == 0
    assert Identifier.objects.filter(profile_id=b).count() == 0


def test_duplicate_candidates_of_the_survivor_show_merge_in_progress_while_queued(
    steward, okafors
):
    online, till = okafors
    detect()
    candidate = candidate_of(online, till)

    request_merge(profile_ids=[online, till], actor=steward, candidate_id=candidate.pk)

    candidate.refresh_from_db()
    assert "merge_in_progress" in candidate.blocking_codes
    assert DuplicateCandidate.objects.get(pk=candidate.pk).status == "open"
