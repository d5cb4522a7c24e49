"""SPEC section 5: why a group of profiles is not merged, from their state alone (no database)."""

import dataclasses
import json
from datetime import UTC, datetime

from identity.candidates.blocking import (
    DismissalState,
    GroupState,
    IdentifierState,
    JobState,
    ProfileState,
    blocking_codes,
    blocking_reasons,
    is_blocked,
)

LABELS = {
    "customer_id": "Customer ID",
    "email": "Email",
    "loyalty_card": "Loyalty card",
    "external_id": "External ID",
    "phone": "Phone",
    "anonymous_id": "Anonymous ID",
}
DO_NOT_MERGE = {"customer_id", "loyalty_card", "external_id"}
DISMISSED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def ident(type_key, value, *, current=True, access=False, do_not_merge=None):
    return IdentifierState(
        type_key=type_key,
        type_label=LABELS[type_key],
        value=value,
        is_current=current,
        grants_access=access,
        do_not_merge=type_key in DO_NOT_MERGE if do_not_merge is None else do_not_merge,
    )


def profile(id, *identifiers, merged_into=None):
    status = "merged" if merged_into else "active"
    return ProfileState(id=id, status=status, merged_into_id=merged_into, identifiers=identifiers)


def group(*profiles, dismissals=(), jobs=()):
    return GroupState(profiles=profiles, dismissals=tuple(dismissals), jobs=tuple(jobs))


def codes(reasons):
    return [reason.code for reason in reasons]


def permissions(reason):
    return [remedy.permission for remedy in reason.remedies]


def test_different_loyalty_cards_block_the_merge():
    reasons = blocking_reasons(group(
        profile(1, ident("email", "ann@example.com"), ident("loyalty_card", "L-1")),
        profile(2, ident("email", "bob@example.com"), ident("loyalty_card", "L-2")),
    ))

    [reason] = reasons
    assert reason.code == "unique_id_conflict"
    assert reason.title == "Different loyalty cards"
    assert reason.evidence == {
        "type": "loyalty_card",
        "type_label": "Loyalty card",
        "profiles": [{"profile": 1, "values": ["L-1"]}, {"profile": 2, "values": ["L-2"]}],
    }
    assert reason.rule == (
        "Loyalty card is a 'do not merge' type: profiles holding different values are never "
        "merged without an override."
    )
    assert [remedy.code for remedy in reason.remedies] == [
        "clear_identifier", "change_type_setting", "merge_anyway",
    ]
    assert permissions(reason) == [
        "identity.change_identifier",
        "identity.change_identifiertype",
        "merges.override_blocking_reason",
    ]
    assert "Loyalty card" in reason.remedies[1].text


def test_a_couple_sharing_a_household_phone_with_their_own_cards_is_blocked():
    reasons = blocking_reasons(group(
        profile(1, ident("phone", "+12125551234"), ident("loyalty_card", "L-1")),
        profile(2, ident("phone", "+12125551234"), ident("loyalty_card", "L-2")),
    ))

    assert codes(reasons) == ["unique_id_conflict"]
    assert reasons[0].evidence["profiles"] == [
        {"profile": 1, "values": ["L-1"]},
        {"profile": 2, "values": ["L-2"]},
    ]


def test_different_customer_ids_have_a_plain_title():
    reasons = blocking_reasons(group(
        profile(1, ident("customer_id", "C1")),
        profile(2, ident("customer_id", "C2")),
    ))

    assert [reason.title for reason in reasons] == ["Different customer IDs"]


def test_a_card_on_only_one_profile_does_not_block():
    assert blocking_reasons(group(
        profile(1, ident("email", "ann@example.com"), ident("loyalty_card", "L-1")),
        profile(2, ident("email", "ann.smith@example.com")),
    )) == []


def test_previous_values_do_not_count_as_different_ids():
    reasons = blocking_reasons(group(
        profile(1, ident("loyalty_card", "L-1")),
        profile(2, ident("loyalty_card", "L-0", current=False)),
    ))

    assert reasons == []


def test_different_values_of_a_type_that_is_not_do_not_merge_do_not_block():
    reasons = blocking_reasons(group(
        profile(1, ident("email", "ann@example.com"), ident("phone", "+12125551234")),
        profile(2, ident("email", "ann.smith@example.com"), ident("phone", "+12125559876")),
    ))

    assert reasons == []


def test_a_type_made_do_not_merge_blocks_profiles_holding_different_values_of_it():
    reasons = blocking_reasons(group(
        profile(1, ident("phone", "+12125551234", do_not_merge=True)),
        profile(2, ident("phone", "+12125551234", do_not_merge=True),
                ident("phone", "+12125559876", do_not_merge=True)),
    ))

    assert codes(reasons) == ["unique_id_conflict"]
    assert reasons[0].title == "Different phones"
    assert reasons[0].evidence["profiles"] == [
        {"profile": 1, "values": ["+12125551234"]},
        {"profile": 2, "values": ["+12125551234", "+12125559876"]},
    ]


def test_access_by_phone_on_one_profile_and_by_email_on_the_other_is_a_mismatch():
    reasons = blocking_reasons(group(
        profile(1, ident("phone", "+12125551234", access=True), ident("email", "ann@example.com")),
        profile(2, ident("email", "ann.smith@example.com", access=True)),
    ))

    [reason] = reasons
    assert reason.code == "access_contact_mismatch"
    assert reason.title == "Different contacts grant account access"
    assert reason.evidence == {
        "profiles": [
            {
                "profile": 1,
                "contacts": [{"type": "phone", "type_label": "Phone", "value": "+12125551234"}],
            },
            {
                "profile": 2,
                "contacts": [
                    {"type": "email", "type_label": "Email", "value": "ann.smith@example.com"}
                ],
            },
        ],
    }
    assert permissions(reason) == [
        "identity.change_identifier",
        "identity.change_identifiertype",
        "merges.override_blocking_reason",
    ]
    assert "Email and Phone" in reason.remedies[1].text


def test_the_same_access_contacts_on_both_profiles_do_not_block():
    reasons = blocking_reasons(group(
        profile(1, ident("phone", "+12125551234", access=True), ident("email", "ann@example.com")),
        profile(2, ident("phone", "+12125551234", access=True)),
    ))

    assert reasons == []


def test_a_profile_without_access_contacts_does_not_make_a_mismatch():
    reasons = blocking_reasons(group(
        profile(1, ident("email", "ann@example.com", access=True)),
        profile(2, ident("email", "ann.smith@example.com"), ident("phone", "+12125551234")),
    ))

    assert reasons == []


def test_a_previous_access_contact_does_not_count():
    reasons = blocking_reasons(group(
        profile(1, ident("loyalty_card", "L-1", access=True, do_not_merge=False)),
        profile(2, ident("loyalty_card", "L-1", access=True, current=False, do_not_merge=False),
                ident("email", "ann@example.com")),
    ))

    assert reasons == []


def test_a_merged_profile_is_inactive_and_names_its_survivor():
    reasons = blocking_reasons(group(
        profile(1, ident("email", "ann@example.com")),
        profile(2, merged_into=7),
    ))

    [reason] = reasons
    assert reason.code == "inactive_profile"
    assert reason.title == "Profile 2 is already merged into profile 7"
    assert reason.evidence == {"profile": 2, "merged_into": 7}
    assert [remedy.code for remedy in reason.remedies] == ["review_survivor"]
    assert "profile 7" in reason.remedies[0].text.lower()


def test_a_queued_merge_job_is_a_merge_in_progress():
    reasons = blocking_reasons(group(
        profile(1), profile(2),
        jobs=[JobState(job_id=41, status="queued", profile_ids=frozenset({2, 9}))],
    ))

    [reason] = reasons
    assert reason.code == "merge_in_progress"
    assert reason.evidence == {"job": 41, "status": "queued", "profiles": [2]}
    assert "41" in reason.title
    assert [remedy.code for remedy in reason.remedies] == ["wait_for_job"]


def test_finished_merge_jobs_do_not_block():
    reasons = blocking_reasons(group(
        profile(1), profile(2),
        jobs=[
            JobState(job_id=40, status="failed", profile_ids=frozenset({1, 2})),
            JobState(job_id=41, status="succeeded", profile_ids=frozenset({2, 9})),
        ],
    ))

    assert reasons == []


def test_a_dismissal_says_who_when_and_why():
    dismissal = DismissalState(
        candidate_id=5, profile_ids=frozenset({1, 2}), by="steward", at=DISMISSED_AT,
        reason="Twins: same address, different people",
    )

    reasons = blocking_reasons(group(profile(1), profile(2), dismissals=[dismissal]))

    [reason] = reasons
    assert reason.code == "previously_dismissed"
    assert reason.title == "Marked as different people"
    assert reason.evidence == {
        "candidate": 5,
        "profiles": [1, 2],
        "by": "steward",
        "at": "2026-03-02T09:30:00+00:00",
        "reason": "Twins: same address, different people",
    }
    assert permissions(reason) == ["merges.override_blocking_reason"]


def test_a_dismissal_covering_only_one_profile_of_the_group_does_not_block():
    dismissal = DismissalState(
        candidate_id=5, profile_ids=frozenset({1, 8}), by="steward", at=DISMISSED_AT,
        reason="Not the same person",
    )

    assert blocking_reasons(group(profile(1), profile(2), dismissals=[dismissal])) == []


def test_a_three_profile_group_names_every_holder_of_a_different_card():
    reasons = blocking_reasons(group(
        profile(3, ident("loyalty_card", "L-3")),
        profile(1, ident("loyalty_card", "L-1")),
        profile(2, ident("email", "ann@example.com")),
    ))

    assert codes(reasons) == ["unique_id_conflict"]
    assert reasons[0].evidence["profiles"] == [
        {"profile": 1, "values": ["L-1"]},
        {"profile": 3, "values": ["L-3"]},
    ]


def test_a_dismissal_of_two_profiles_of_a_three_profile_group_blocks_it():
    dismissal = DismissalState(
        candidate_id=5, profile_ids=frozenset({2, 3}), by="senior", at=DISMISSED_AT,
        reason="Different people",
    )

    reasons = blocking_reasons(group(profile(1), profile(2), profile(3), dismissals=[dismissal]))

    assert codes(reasons) == ["previously_dismissed"]
    assert reasons[0].evidence["profiles"] == [2, 3]


def test_nothing_blocks_an_email_only_profile_and_an_id_only_profile():
    unblocked = group(
        profile(1, ident("email", "ann@example.com", access=True)),
        profile(2, ident("customer_id", "C1")),
    )

    assert blocking_reasons(unblocked) == []
    assert not is_blocked(unblocked)


def test_every_reason_comes_in_a_fixed_order_whatever_the_order_of_the_state():
    profiles = [
        profile(1, ident("loyalty_card", "L-1"), ident("customer_id", "C1"),
                ident("email", "ann@example.com", access=True)),
        profile(2, ident("loyalty_card", "L-2"), ident("customer_id", "C2"),
                ident("phone", "+12125551234", access=True)),
        profile(3, merged_into=1),
        profile(4, merged_into=2),
    ]
    dismissals = [
        DismissalState(8, frozenset({1, 2}), "steward", datetime(2026, 3, 2, tzinfo=UTC), "b"),
        DismissalState(6, frozenset({1, 2}), "senior", datetime(2026, 3, 1, tzinfo=UTC), "a"),
    ]
    jobs = [
        JobState(12, "running", frozenset({2, 4})),
        JobState(11, "queued", frozenset({1, 3})),
    ]

    forward = blocking_reasons(group(*profiles, dismissals=dismissals, jobs=jobs))
    backward = blocking_reasons(group(
        *reversed([dataclasses.replace(p, identifiers=p.identifiers[::-1]) for p in profiles]),
        dismissals=reversed(dismissals), jobs=reversed(jobs),
    ))

    assert forward == backward
    assert codes(forward) == [
        "unique_id_conflict", "unique_id_conflict", "access_contact_mismatch",
        "previously_dismissed", "previously_dismissed",
        "inactive_profile", "inactive_profile", "merge_in_progress", "merge_in_progress",
    ]
    assert [r.evidence.get("type") for r in forward[:2]] == ["customer_id", "loyalty_card"]
    assert [r.evidence["candidate"] for r in forward[3:5]] == [6, 8]
    assert [r.evidence["profile"] for r in forward[5:7]] == [3, 4]
    assert [r.evidence["job"] for r in forward[7:]] == [11, 12]
    assert is_blocked(group(*profiles))
    # The queue's stored codes: each code once, in the reasons' order.
    assert blocking_codes(group(*profiles, dismissals=dismissals, jobs=jobs)) == [
        "unique_id_conflict", "access_contact_mismatch", "previously_dismissed",
        "inactive_profile", "merge_in_progress",
    ]
    assert blocking_codes(group(profiles[0], profiles[1])) == [
        "unique_id_conflict", "access_contact_mismatch",
    ]
    assert blocking_codes(group(profiles[0])) == []
    assert not is_blocked(group(profiles[0]))


def test_a_reason_survives_a_round_trip_through_json_unchanged():
    [reason] = blocking_reasons(group(
        profile(1, ident("loyalty_card", "L-1")),
        profile(2, ident("loyalty_card", "L-2")),
    ))

    stored = json.loads(json.dumps(dataclasses.asdict(reason)))

    assert stored["evidence"] == reason.evidence
    assert stored["code"] == "unique_id_conflict"
