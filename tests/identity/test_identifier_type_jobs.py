"""The background work a saved identifier-type change leaves: blocking reasons recomputed and
detection run (with progress), every value re-normalised after a normaliser change, values that
no longer validate listed and kept."""

import pytest

from identity.candidates.blocking import UNIQUE_ID_CONFLICT
from identity.models import DuplicateCandidate, Identifier, IdentifierType, IdentifierTypeJob
from identity.types.jobs import execute_type_job
from identity.types.services import change_identifier_type
from tests.factories import wait_for, write
from tests.identity.conftest import candidate_of, detect


def member_numbers():
    """Member numbers kept as typed (trim), some of them emails in all but form."""
    IdentifierType.objects.create(key="member_no", label="Member number", unique=True,
                                  priority=6)
    return {
        "ann": write({"email": "ann@example.com", "member_no": " Ann@Example.COM"},
                     "email").profile_id,
        "bob": write({"email": "bob@example.com", "member_no": "M-0042"}, "email").profile_id,
        "cy": write({"email": "cy@example.com", "member_no": "ann@example.com"},
                    "email").profile_id,
        "dee": write({"email": "dee@example.com", "member_no": "Dee@Example.com"},
                     "email").profile_id,
    }


@pytest.mark.django_db
def test_a_normaliser_change_renormalises_values_and_lists_those_that_no_longer_validate(senior):
    people = member_numbers()

    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="member_no"),
        changes={"normaliser": "email"}, reason="Member numbers are emails now", actor=senior,
    )
    job = execute_type_job(jobs[0].pk)

    assert (job.kind, job.status, job.done, job.total) == ("renormalise", "succeeded", 4, 4)
    values = dict(Identifier.objects.filter(type__key="member_no")
                  .values_list("profile_id", "value"))
    assert values[people["dee"]] == "dee@example.com"
    assert values[people["bob"]] == "M-0042"  # kept, not dropped
    problems = {item["profile"]: item["problem"] for item in job.problems}
    assert "'M-0042' is not a valid email address; kept as it was" == problems[people["bob"]]
    assert job.problem_count == 2 and job.figures == {"values": 4, "changed": 1, "kept": 2}


@pytest.mark.django_db
def test_a_value_whose_new_form_another_profile_holds_is_kept_and_names_the_holder(senior):
    people = member_numbers()

    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="member_no"),
        changes={"normaliser": "email"}, reason="Member numbers are emails now", actor=senior,
    )
    job = execute_type_job(jobs[0].pk)

    ann = Identifier.objects.get(profile_id=people["ann"], type__key="member_no")
    assert ann.value == "Ann@Example.COM"  # cy holds ann@example.com already: kept
    problem = next(item for item in job.problems if item["profile"] == people["ann"])
    assert problem["problem"] == (
        f"becomes 'ann@example.com', which profile {people['cy']} already holds; kept as it was"
    )


@pytest.mark.django_db
def test_a_job_delivered_again_after_it_finished_does_nothing(senior):
    member_numbers()
    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="member_no"),
        changes={"normaliser": "email"}, reason="Emails", actor=senior,
    )
    first = execute_type_job(jobs[0].pk)

    again = execute_type_job(jobs[0].pk)

    assert again.finished_at == first.finished_at and again.problems == first.problems


@pytest.mark.django_db
def test_making_a_type_matchable_finds_the_new_pairs_and_the_queue_shows_them(senior):
    IdentifierType.objects.create(key="store_card", label="Store card", priority=6)
    ann = write({"email": "ann@example.com", "store_card": "S-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "store_card": "S-1"}, "email").profile_id

    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="store_card"),
        changes={"matchable": True}, reason="Household cards", actor=senior,
    )
    job = execute_type_job(jobs[0].pk)

    candidate = candidate_of(ann, bob)
    assert candidate.status == "open"
    assert candidate.evidence[0]["rule"] == "shared_value"
    assert job.figures["detection"]["created"] == 1


@pytest.mark.django_db
def test_recomputing_updates_the_codes_the_queue_filters_on(senior, household):
    detect()
    garcias = candidate_of(*household)
    assert UNIQUE_ID_CONFLICT in garcias.blocking_codes

    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="loyalty_card"),
        changes={"do_not_merge": False}, reason="Cards are reissued", actor=senior,
    )
    job = execute_type_job(jobs[0].pk)

    garcias.refresh_from_db()
    assert garcias.blocking_codes == ["access_contact_mismatch"]
    assert job.figures["candidates"] == 1 and job.figures["codes_changed"] == 1
    assert job.percent == 100


@pytest.mark.django_db(transaction=True)
def test_a_saved_change_is_recomputed_by_the_worker(celery_worker, senior, household):
    detect()
    garcias = candidate_of(*household)

    _, jobs = change_identifier_type(
        identifier_type=IdentifierType.objects.get(key="loyalty_card"),
        changes={"do_not_merge": False}, reason="Cards are reissued", actor=senior,
    )

    assert wait_for(lambda: IdentifierTypeJob.objects.get(pk=jobs[0].pk).finished)
    assert IdentifierTypeJob.objects.get(pk=jobs[0].pk).status == "succeeded"
    assert UNIQUE_ID_CONFLICT not in DuplicateCandidate.objects.get(pk=garcias.pk).blocking_codes
