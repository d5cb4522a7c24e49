"""SPEC section 4 and 5 on the real database: which profiles become suspected duplicates, and why
their merge is blocked."""

import pytest

from identity.candidates.blocking import blocking_reasons
from identity.candidates.lifecycle import dismiss_candidate
from identity.candidates.states import group_states
from identity.matching.detect import detect_all, detect_for_profiles
from identity.models import DuplicateCandidate, JunkValue
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from profiles.models import Profile
from tests.factories import population, write

pytestmark = pytest.mark.django_db


def candidates(status="open"):
    """{frozenset(profile ids): candidate} of the candidates with `status`."""
    return {
        frozenset(c.profiles.values_list("pk", flat=True)): c
        for c in DuplicateCandidate.objects.filter(status=status)
    }


def person(**record):
    key = next(k for k in ("email", "customer_id", "loyalty_card") if k in record)
    return write(record, key, accessContacts=record.pop("access", [])).profile_id


def reasons(candidate):
    return {r.code: r for r in blocking_reasons(group_states([candidate.pk])[candidate.pk])}


def test_a_shared_phone_with_different_loyalty_cards_is_a_candidate_blocked_by_the_cards():
    maria = person(loyalty_card="LC-1", phone="(212) 555-0142", first_name="Maria",
                   last_name="Garcia")
    carlos = person(loyalty_card="LC-2", phone="+1 212 555 0142", first_name="Carlos",
                    last_name="Garcia")

    detect_all()

    candidate = candidates()[frozenset({maria, carlos})]
    assert candidate.evidence[0]["rule"] == "shared_value"
    assert candidate.evidence[0]["value"] == "+12125550142"
    conflict = reasons(candidate)["unique_id_conflict"]
    assert "LC-1" in str(conflict.evidence) and "LC-2" in str(conflict.evidence)


def test_access_by_phone_on_one_and_by_email_on_the_other_blocks_with_both_sets():
    by_phone = person(customer_id="C-1", phone="(646) 555-0199", access=["phone"])
    by_email = person(email="ken@example.com", phone="646.555.0199", access=["email"])

    detect_all()

    candidate = candidates()[frozenset({by_phone, by_email})]
    mismatch = reasons(candidate)["access_contact_mismatch"]
    assert "+16465550199" in str(mismatch.evidence)
    assert "ken@example.com" in str(mismatch.evidence)


def test_a_dismissed_pair_stays_dismissed_until_a_new_shared_value_appears(steward):
    a = person(email="ann@example.com", phone="(212) 555-0111")
    b = person(email="bea@example.com", phone="(212) 555-0111")
    detect_all()
    dismiss_candidate(candidate=candidates()[frozenset({a, b})], reason="mother and daughter",
                      actor=steward)

    detect_all()
    assert frozenset({a, b}) not in candidates()
    assert frozenset({a, b}) in candidates("dismissed")

    write({"email": "bea@example.com", "phone": "(917) 555-0123"}, "email")
    write({"email": "ann@example.com", "phone": "(917) 555-0123"}, "email")
    detect_all()

    reopened = candidates()[frozenset({a, b})]
    assert {e.get("value") for e in reopened.evidence} >= {"+12125550111", "+19175550123"}
    dismissal = reasons(reopened)["previously_dismissed"]
    assert "mother and daughter" in str(dismissal.evidence)


def test_a_merged_profile_makes_the_group_inactive(steward):
    a = person(email="ann@example.com", phone="(212) 555-0111")
    b = person(email="bea@example.com", phone="(212) 555-0111")
    survivor = person(email="cy@example.com")
    detect_all()
    candidate = candidates()[frozenset({a, b})]

    Profile.objects.filter(pk=b).update(status=Profile.Status.MERGED, merged_into_id=survivor)

    inactive = reasons(candidate)["inactive_profile"]
    assert str(survivor) in str(inactive.evidence)


def test_a_placeholder_phone_on_500_profiles_makes_no_pairs_and_is_listed_as_junk():
    types = identifier_types()
    resolve_writes([  # one import batch
        parse_write({"record": {"email": f"walk-in-{n}@example.com", "phone": "(212) 555-0100"},
                     "matchKey": "email"}, types=types)
        for n in range(500)
    ])

    detect_all()

    assert not DuplicateCandidate.objects.exists()
    junk = JunkValue.objects.get()
    assert (junk.value, junk.profiles) == ("+12125550100", 500)


def test_jon_and_john_smith_born_the_same_day_are_found_but_not_john_smith_and_mary_jones():
    jon = person(email="jon@example.com", first_name="Jon", last_name="Smith",
                 date_of_birth="1984-07-12", city="Boston")
    john = person(customer_id="C-77", first_name="John", last_name="Smith",
                  date_of_birth="1984-07-12", postcode="02108")
    mary = person(email="mary@example.com", first_name="Mary", last_name="Jones",
                  date_of_birth="1984-07-12", city="Boston")
    population()

    detect_all()

    found = candidates()
    assert frozenset({jon, john}) in found
    assert not any(mary in members for members in found)
    similar = found[frozenset({jon, john})].evidence[0]
    assert similar["rule"] == "similar_people"
    assert similar["fields"]["first_name"]["level"] == "nickname"
    assert similar["fields"]["date_of_birth"]["level"] == "exact"
    assert similar["fields"]["last_name"]["weight"] > 0


def test_swapped_names_and_a_birth_date_with_swapped_digits_are_still_found():
    population()
    a = person(email="a@example.com", first_name="Wei", last_name="Zhang",
               date_of_birth="1990-03-14", postcode="10001")
    b = person(email="b@example.com", first_name="Zhang", last_name="Wei",
               date_of_birth="1990-03-14", postcode="10001")
    c = person(email="c@example.com", first_name="Priya", last_name="Raghunathan",
               date_of_birth="1979-10-14", postcode="60601")
    d = person(email="d@example.com", first_name="Priya", last_name="Raghunathan",
               date_of_birth="1979-01-14", postcode="60601")  # 10 typed as 01

    detect_all()

    found = candidates()
    assert frozenset({a, b}) in found
    assert frozenset({c, d}) in found


@pytest.mark.parametrize(("written", "other"), [
    ("1984-07-12", "1984-07-21"),  # two digits swapped
    ("1984-07-12", "1984-07-13"),  # one digit wrong
    ("1984-07-12", "1984-12-07"),  # day and month swapped
])
def test_a_birth_date_typo_is_a_close_match_in_the_evidence(written, other):
    population()
    a = person(email="a@example.com", first_name="Ingrid", last_name="Vasquez-Olsen",
               date_of_birth=written, postcode="10001")
    b = person(email="b@example.com", first_name="Ingrid", last_name="Vasquez-Olsen",
               date_of_birth=other, postcode="10001")

    detect_all()

    evidence = candidates()[frozenset({a, b})].evidence[0]
    assert evidence["fields"]["date_of_birth"]["level"] == "close"


def snapshot():
    return {
        members: (c.status, sorted(str(sorted(e.items())) for e in c.evidence))
        for members, c in candidates().items()
    }


def test_incremental_detection_after_writes_and_a_full_run_give_the_same_candidates():
    def written(record, key):
        resolution = write(record, key)
        detect_for_profiles([resolution.profile_id, *(c.held_by for c in resolution.conflicts)])

    written({"loyalty_card": "LC-1", "phone": "(212) 555-0142", "last_name": "Garcia"},
            "loyalty_card")
    written({"loyalty_card": "LC-2", "phone": "(212) 555-0142", "last_name": "Garcia"},
            "loyalty_card")
    written({"email": "x@example.com", "phone": "(212) 555-0142"}, "email")
    written({"customer_id": "C-1"}, "customer_id")
    written({"email": "jane@example.com"}, "email")
    written({"customer_id": "C-1", "email": "jane@example.com"}, "customer_id")
    written({"email": "jon@example.com", "first_name": "Jon", "last_name": "Smith",
             "date_of_birth": "1984-07-12"}, "email")
    written({"customer_id": "C-9", "first_name": "John", "last_name": "Smith",
             "date_of_birth": "1984-07-12"}, "customer_id")
    incremental = snapshot()

    detect_all()

    assert snapshot() == incremental
    assert len(incremental) == 3
