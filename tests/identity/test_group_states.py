"""The state blocking reasons are judged on, read from the database in a fixed number of queries."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.utils import timezone

from identity.candidates import states
from identity.candidates.blocking import (
    DismissalState,
    GroupState,
    IdentifierState,
    JobState,
    ProfileState,
    blocking_reasons,
)
from identity.candidates.states import group_state_for_profiles, group_states
from identity.models import CandidateMember, DuplicateCandidate, IdentifierType
from merges.models import MergeJob
from profiles.models import Profile
from tests.factories import write

pytestmark = pytest.mark.django_db

DISMISSED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def candidate(*profile_ids, **fields):
    made = DuplicateCandidate.objects.create(**fields)
    CandidateMember.objects.bulk_create(
        CandidateMember(candidate=made, profile_id=pk) for pk in profile_ids
    )
    return made


def dismissed_candidate(*profile_ids, by, reason="Different people"):
    return candidate(
        *profile_ids, status=DuplicateCandidate.Status.DISMISSED, dismissed_by=by,
        dismissed_at=DISMISSED_AT, dismiss_reason=reason, closed_at=DISMISSED_AT,
    )


def job(survivor, *merged, status=MergeJob.Status.QUEUED):
    return MergeJob.objects.create(
        survivor_id=survivor, merged_profile_ids=list(merged), status=status
    )


def tombstone(profile_id, survivor_id):
    """A profile a merge turned into a tombstone (the merge service is not built yet)."""
    Profile.objects.filter(pk=profile_id).update(
        status=Profile.Status.MERGED, merged_into_id=survivor_id, merged_at=timezone.now()
    )


def test_a_candidates_state_holds_what_its_profiles_hold():
    IdentifierType.objects.create(
        key="postcode", label="Postcode", single_valued=True, priority=9
    )
    ann = write(
        {"email": "Ann@Example.com", "phone": "(212) 555-1234", "loyalty_card": "L-1",
         "postcode": "10001"},
        "email", accessContacts=["email"],
    ).profile_id
    write({"email": "ann@example.com", "postcode": "10002"}, "email")
    bob = write({"customer_id": "C2", "phone": "+1 212 555 1234"}, "customer_id").profile_id
    pair = candidate(ann, bob)

    state = group_states([pair.pk])[pair.pk]

    assert state == GroupState(
        profiles=(
            ProfileState(ann, "active", None, (
                IdentifierState("email", "Email", "ann@example.com", True, True, False),
                IdentifierState("loyalty_card", "Loyalty card", "L-1", True, False, True),
                IdentifierState("phone", "Phone", "+12125551234", True, False, False),
                IdentifierState("postcode", "Postcode", "10002", True, False, False),
                IdentifierState("postcode", "Postcode", "10001", False, False, False),
            )),
            ProfileState(bob, "active", None, (
                IdentifierState("customer_id", "Customer ID", "C2", True, False, True),
                IdentifierState("phone", "Phone", "+12125551234", True, False, False),
            )),
        ),
        dismissals=(),
        jobs=(),
    )
    assert blocking_reasons(state) == []


def test_a_dismissal_of_the_same_profiles_is_in_the_state_with_who_when_and_why(steward):
    ann = write({"email": "ann@example.com"}, "email").profile_id
    bob = write({"email": "bob@example.com"}, "email").profile_id
    other = write({"email": "cy@example.com"}, "email").profile_id
    earlier = dismissed_candidate(ann, bob, by=steward, reason="Twins, not one person")
    dismissed_candidate(ann, other, by=steward)  # shares one profile only
    pair = candidate(ann, bob)

    state = group_states([pair.pk])[pair.pk]

    assert state.dismissals == (
        DismissalState(earlier.pk, frozenset({ann, bob}), "steward", DISMISSED_AT,
                       "Twins, not one person"),
    )
    [reason] = blocking_reasons(state)
    assert reason.code == "previously_dismissed"
    assert reason.evidence["by"] == "steward"
    assert reason.evidence["reason"] == "Twins, not one person"


def test_a_dismissed_candidate_reopened_by_new_evidence_still_remembers_the_dismissal(senior):
    ann = write({"email": "ann@example.com"}, "email").profile_id
    bob = write({"email": "bob@example.com"}, "email").profile_id
    reopened = candidate(
        ann, bob, dismissed_by=senior, dismissed_at=DISMISSED_AT, dismiss_reason="Neighbours"
    )

    state = group_states([reopened.pk])[reopened.pk]

    assert [(d.candidate_id, d.by, d.reason) for d in state.dismissals] == [
        (reopened.pk, "senior", "Neighbours")
    ]


def test_queued_and_running_jobs_touching_the_group_are_in_the_state():
    ann, bob, cy, dee = (
        write({"email": f"{name}@example.com"}, "email").profile_id
        for name in ("ann", "bob", "cy", "dee")
    )
    queued = job(cy, bob)
    running = job(ann, dee, status=MergeJob.Status.RUNNING)
    job(ann, bob, status=MergeJob.Status.SUCCEEDED)
    job(cy, dee, status=MergeJob.Status.QUEUED)  # touches neither ann nor bob
    pair = candidate(ann, bob)

    state = group_states([pair.pk])[pair.pk]

    assert state.jobs == (
        JobState(queued.pk, "queued", frozenset({cy, bob})),
        JobState(running.pk, "running", frozenset({ann, dee})),
    )
    assert [r.code for r in blocking_reasons(state)] == ["merge_in_progress"] * 2


def test_a_merged_profile_is_in_the_state_with_its_survivor():
    ann = write({"email": "ann@example.com"}, "email").profile_id
    bob = write({"email": "bob@example.com"}, "email").profile_id
    survivor = write({"email": "bob.b@example.com"}, "email").profile_id
    pair = candidate(ann, bob)
    tombstone(bob, survivor)

    state = group_states([pair.pk])[pair.pk]

    assert state.profiles[1] == ProfileState(bob, "merged", survivor, (
        IdentifierState("email", "Email", "bob@example.com", True, False, False),
    ))
    [reason] = blocking_reasons(state)
    assert reason.evidence == {"profile": bob, "merged_into": survivor}


def test_each_candidate_gets_its_own_group():
    ann = write({"email": "ann@example.com", "loyalty_card": "L-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "loyalty_card": "L-2"}, "email").profile_id
    cy = write({"email": "cy@example.com"}, "email").profile_id
    blocked = candidate(ann, bob)
    free = candidate(ann, cy)

    states = group_states([blocked.pk, free.pk])

    assert [p.id for p in states[blocked.pk].profiles] == sorted([ann, bob])
    assert [p.id for p in states[free.pk].profiles] == sorted([ann, cy])
    assert [r.code for r in blocking_reasons(states[blocked.pk])] == ["unique_id_conflict"]
    assert blocking_reasons(states[free.pk]) == []


def test_states_of_many_candidates_take_as_many_queries_as_of_one(
    steward, django_assert_num_queries
):
    pairs = []
    for n in range(20):
        ann = write(
            {"email": f"ann{n}@example.com", "phone": "+12125551234", "loyalty_card": f"A-{n}"},
            "email", accessContacts=["email"],
        ).profile_id
        bob = write(
            {"email": f"bob{n}@example.com", "phone": "+12125551234", "loyalty_card": f"B-{n}"},
            "email",
        ).profile_id
        dismissed_candidate(ann, bob, by=steward)
        job(ann, bob)
        pairs.append(candidate(ann, bob).pk)

    with django_assert_num_queries(4):
        one = group_states(pairs[:1])
    with django_assert_num_queries(4):
        twenty = group_states(pairs)

    assert len(one) == 1 and len(twenty) == 20
    assert all(
        [r.code for r in blocking_reasons(state)]
        == ["unique_id_conflict", "previously_dismissed", "merge_in_progress"]
        for state in twenty.values()
    )


def test_a_shared_phone_with_different_loyalty_cards_is_a_unique_id_conflict():
    ann = write(
        {"email": "ann@example.com", "phone": "(212) 555-1234", "loyalty_card": "L-100"},
        "email",
    ).profile_id
    bob = write(
        {"email": "bob@example.com", "phone": "+1 212 555 1234", "loyalty_card": "L-200"},
        "email",
    ).profile_id
    household = candidate(ann, bob, evidence=[{"rule": "shared", "type": "phone"}])

    reasons = blocking_reasons(group_states([household.pk])[household.pk])

    assert [reason.code for reason in reasons] == ["unique_id_conflict"]
    assert reasons[0].title == "Different loyalty cards"
    assert reasons[0].evidence["profiles"] == [
        {"profile": ann, "values": ["L-100"]},
        {"profile": bob, "values": ["L-200"]},
    ]


def test_a_collision_on_a_card_opens_a_candidate_blocked_by_the_two_cards():
    ann = write({"email": "ann@example.com", "loyalty_card": "L-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "loyalty_card": "L-2"}, "email").profile_id

    collision = write({"email": "ann@example.com", "loyalty_card": "L-2"}, "email")

    [conflict] = collision.conflicts
    reasons = blocking_reasons(group_states([conflict.candidate_id])[conflict.candidate_id])
    assert [reason.code for reason in reasons] == ["unique_id_conflict"]
    assert reasons[0].evidence["profiles"] == [
        {"profile": ann, "values": ["L-1"]},
        {"profile": bob, "values": ["L-2"]},
    ]


def test_access_by_different_emails_from_the_database_is_a_mismatch():
    ann = write({"email": "ann@example.com"}, "email", accessContacts=["email"]).profile_id
    bob = write(
        {"email": "bob@example.com", "phone": "+12125551234"}, "email",
        accessContacts=["phone"],
    ).profile_id
    pair = candidate(ann, bob)

    [reason] = blocking_reasons(group_states([pair.pk])[pair.pk])

    assert reason.code == "access_contact_mismatch"
    assert [p["contacts"] for p in reason.evidence["profiles"]] == [
        [{"type": "email", "type_label": "Email", "value": "ann@example.com"}],
        [{"type": "phone", "type_label": "Phone", "value": "+12125551234"}],
    ]


def test_a_group_not_yet_saved_has_the_same_state_as_a_candidate_of_it(
    steward, django_assert_num_queries
):
    ann = write({"email": "ann@example.com", "loyalty_card": "L-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "loyalty_card": "L-2"}, "email").profile_id
    dismissed_candidate(ann, bob, by=steward)
    job(bob, ann)
    pair = candidate(ann, bob)

    with django_assert_num_queries(4):
        unsaved = group_state_for_profiles([bob, ann])

    assert unsaved == group_states([pair.pk])[pair.pk]


def test_the_merge_task_does_not_count_its_own_job_as_a_merge_in_progress():
    ann = write({"email": "ann@example.com"}, "email").profile_id
    bob = write({"email": "bob@example.com"}, "email").profile_id
    own = job(ann, bob, status=MergeJob.Status.RUNNING)

    state = group_state_for_profiles([ann, bob], excluding_job_id=own.pk)

    assert state.jobs == ()
    assert blocking_reasons(state) == []


def test_many_groups_read_at_once_by_index_have_the_states_each_has_alone(steward, monkeypatch):
    # Detection reads the groups it saves a few thousand profiles at a time, by index whatever
    # the planner would rather do; lowered here so that three groups take that path.
    monkeypatch.setattr(states, "BY_INDEX_FROM", 2)
    ann = write({"email": "ann@example.com", "loyalty_card": "L-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "loyalty_card": "L-2"}, "email").profile_id
    cy = write({"email": "cy@example.com", "phone": "(212) 555-0134"}, "email").profile_id
    dismissed_candidate(ann, bob, by=steward)
    job(bob, cy)
    groups = [[ann, bob], [bob, cy], [ann, bob, cy]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = on")

    together = states.group_states_for_profile_groups(groups)

    monkeypatch.setattr(states, "BY_INDEX_FROM", 10**9)
    assert together == [group_state_for_profiles(group) for group in groups]
    assert blocking_reasons(together[0])  # two loyalty cards, and a dismissal
    with connection.cursor() as cursor:  # the rest of the transaction plans as before
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone() == ("on",)
