"""The impact of an identifier-type change before it is saved (SPEC 8a): judged by the queue's own
blocking function on the real data, and refused with a sample when the data forbids it."""

import random

import pytest
from django.utils import timezone

from identity.candidates.blocking import UNIQUE_ID_CONFLICT, blocking_codes, blocking_reasons
from identity.candidates.states import group_states
from identity.models import CandidateMember, DuplicateCandidate, Identifier, IdentifierType
from identity.types.impact import ChangeRefused, InvalidChange, preview
from identity.types.jobs import execute_type_job
from identity.types.services import change_identifier_type
from merges.models import MergeJob
from profiles.models import Profile
from tests.factories import write
from tests.identity.conftest import candidate_of, detect

pytestmark = pytest.mark.django_db


def loyalty_card():
    return IdentifierType.objects.get(key="loyalty_card")


@pytest.fixture
def cardholders(db):
    """Loyalty cards not yet "do not merge": three couples sharing a home phone, each with their
    own card; one couple where only one has a card; Ken by phone and email (no card)."""
    IdentifierType.objects.filter(key="loyalty_card").update(do_not_merge=False)
    couples = []
    for n in range(3):
        couples.append(tuple(
            write({"loyalty_card": f"LC-{n}{who}", "phone": f"(212) 555-014{n}",
                   "first_name": f"Person{n}{who}", "last_name": f"Family{n}"},
                  "loyalty_card").profile_id
            for who in "ab"
        ))
    single = (
        write({"loyalty_card": "LC-9a", "phone": "(212) 555-0199"}, "loyalty_card").profile_id,
        write({"email": "nocard@example.com", "phone": "212 555 0199"}, "email").profile_id,
    )
    ken = (
        write({"phone": "646.555.0199", "email": "ken@example.com"}, "email").profile_id,
        write({"customer_id": "C-1", "phone": "+16465550199"}, "customer_id").profile_id,
    )
    detect()
    return couples, single, ken


def test_turning_do_not_merge_on_blocks_exactly_the_couples_with_two_cards(cardholders):
    couples, single, ken = cardholders
    assert not DuplicateCandidate.objects.filter(blocking_codes__len__gt=0).exists()

    impact = preview(loyalty_card(), {"do_not_merge": True})

    assert impact.become_blocked == {UNIQUE_ID_CONFLICT: 3}
    assert impact.blocked_total == 3 and impact.unblocked_total == 0
    assert sorted(impact.sample) == sorted(candidate_of(*pair).pk for pair in couples)
    assert impact.judged == 3  # only groups where two profiles hold a card are judged


def test_the_preview_is_what_the_queue_finds_once_the_change_is_saved(cardholders, senior):
    impact = preview(loyalty_card(), {"do_not_merge": True})

    _, jobs = change_identifier_type(identifier_type=loyalty_card(), changes={"do_not_merge": True},
                                     reason="Couples share phones", actor=senior)
    execute_type_job(jobs[0].pk)

    blocked = DuplicateCandidate.objects.filter(status="open",
                                                blocking_codes__contains=[UNIQUE_ID_CONFLICT])
    assert blocked.count() == impact.blocked_total == 3
    assert sorted(blocked.values_list("pk", flat=True)) == sorted(impact.sample)


def test_turning_it_off_again_previews_them_unblocked(cardholders, senior):
    change_identifier_type(identifier_type=loyalty_card(), changes={"do_not_merge": True},
                           reason="Couples share phones", actor=senior)

    impact = preview(loyalty_card(), {"do_not_merge": False})

    assert impact.become_unblocked == {UNIQUE_ID_CONFLICT: 3}
    assert impact.become_blocked == {}


def test_the_preview_judges_the_state_the_queue_judges_with_the_flags_overridden(cardholders):
    couples, _, _ = cardholders
    pk = candidate_of(*couples[0]).pk

    stored = group_states([pk])[pk]
    overridden = group_states([pk], type_flags={"loyalty_card": {"do_not_merge": True}})[pk]

    assert blocking_reasons(stored) == []
    assert [r.code for r in blocking_reasons(overridden)] == [UNIQUE_ID_CONFLICT]
    assert not loyalty_card().do_not_merge  # nothing saved


def test_a_reason_still_blocking_is_reported_as_a_reason_removed_not_an_unblock(household):
    """The Garcias hold two loyalty cards and different access contacts: without "do not
    merge" they stay blocked by the access contacts."""
    detect()

    impact = preview(loyalty_card(), {"do_not_merge": False})

    assert impact.unblocked_total == 0
    assert impact.reasons_removed == {UNIQUE_ID_CONFLICT: 1}
    assert impact.sample == [candidate_of(*household).pk]


def test_stopping_a_type_from_granting_access_unblocks_the_access_mismatch(household, senior):
    detect()
    IdentifierType.objects.filter(key="loyalty_card").update(do_not_merge=False)

    impact = preview(loyalty_card(), {"can_grant_access": False})

    assert impact.become_unblocked == {"access_contact_mismatch": 1}
    assert impact.access_cleared == 1
    change_identifier_type(identifier_type=loyalty_card(), changes={"can_grant_access": False},
                           reason="Cards are not credentials", actor=senior)
    assert not Identifier.objects.filter(type__key="loyalty_card", grants_access=True).exists()


def test_making_a_type_matchable_counts_the_new_suspected_pairs():
    store = IdentifierType.objects.create(key="store_card", label="Store card", priority=6)
    ann = write({"email": "ann@example.com", "store_card": "S-1"}, "email").profile_id
    bob = write({"email": "bob@example.com", "store_card": "S-1"}, "email").profile_id
    cy = write({"email": "cy@example.com", "store_card": "S-1"}, "email").profile_id
    write({"email": "dee@example.com", "store_card": "S-2"}, "email")

    impact = preview(store, {"matchable": True})

    assert impact.new_pairs == 3
    assert impact.pair_sample == [[ann, bob], [ann, cy], [bob, cy]]


def test_auto_merge_counts_the_collisions_nothing_blocks(senior):
    IdentifierType.objects.create(key="device_id", label="Device ID", unique=True, priority=6)
    known = write({"email": "ann@example.com", "first_name": "Ann"}, "email").profile_id
    anonymous = write({"device_id": "D-1"}, "device_id").profile_id
    write({"email": "ann@example.com", "device_id": "D-1"}, "email")  # a collision on device_id
    detect()
    candidate = candidate_of(known, anonymous)
    assert not candidate.auto_merge

    impact = preview(IdentifierType.objects.get(key="device_id"), {"auto_merge": True})

    assert impact.auto_merges == 1 and impact.sample == [candidate.pk]


def test_unique_is_refused_with_a_sample_while_profiles_share_a_value():
    ann = write({"email": "ann@example.com", "phone": "(212) 555-0101"}, "email").profile_id
    bob = write({"email": "bob@example.com", "phone": "212 555 0101"}, "email").profile_id

    with pytest.raises(ChangeRefused) as refused:
        preview(IdentifierType.objects.get(key="phone"), {"unique": True})

    assert refused.value.refusal.code == "values_shared"
    assert refused.value.refusal.sample == [{"value": "+12125550101", "profiles": [ann, bob]}]


def test_single_valued_is_refused_while_a_profile_holds_several_values(senior):
    ann = write({"email": ["ann@example.com", "ann@work.example.com"]}, "email").profile_id

    with pytest.raises(ChangeRefused) as refused:
        change_identifier_type(identifier_type=IdentifierType.objects.get(key="email"),
                               changes={"single_valued": True}, reason="One email each",
                               actor=senior)

    assert refused.value.refusal.sample == [
        {"profile": ann, "values": ["ann@example.com", "ann@work.example.com"]}
    ]
    assert not IdentifierType.objects.get(key="email").single_valued
    assert not Identifier.objects.filter(is_single_valued=True, type__key="email").exists()


def test_auto_merge_is_refused_on_a_type_that_is_not_unique():
    with pytest.raises(ChangeRefused) as refused:
        preview(IdentifierType.objects.get(key="phone"), {"auto_merge": True})

    assert refused.value.refusal.code == "auto_merge_needs_unique"


def test_an_unknown_setting_or_a_wrong_value_is_bad_input():
    with pytest.raises(InvalidChange) as unknown:
        preview(loyalty_card(), {"colour": "red"})
    with pytest.raises(InvalidChange) as wrong:
        preview(loyalty_card(), {"do_not_merge": "yes"})

    assert (unknown.value.field, wrong.value.field) == ("colour", "do_not_merge")


def test_judging_only_the_identifiers_blocking_reads_gives_the_same_reasons(household, ken):
    IdentifierType.objects.create(key="crm_id", label="CRM ID", do_not_merge=True, priority=6)
    write({"email": "maria.garcia@example.com", "crm_id": "A-1"}, "email")
    detect()
    ids = list(DuplicateCandidate.objects.values_list("pk", flat=True))

    full = group_states(ids)
    judged = group_states(ids, blocking_only=True)

    assert len(ids) >= 2
    assert {pk: blocking_reasons(s) for pk, s in full.items()} == {
        pk: blocking_reasons(s) for pk, s in judged.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("key, changes", [
    ("store_card", {"do_not_merge": True}),
    ("store_card", {"can_grant_access": False}),
    ("email", {"can_grant_access": False}),
    ("customer_id", {"do_not_merge": False}),
])
def test_judging_each_group_shape_once_counts_what_judging_every_group_counts(
    seed, key, changes, senior
):
    """Random groups (shared and different cards, contacts granting access or not, tombstones,
    dismissals, merges in progress): the preview's counts and sample are those of judging
    every open candidate's own state with the flags overridden."""
    rng = random.Random(seed)
    store_card = IdentifierType.objects.create(
        key="store_card", label="Store card", normaliser="trim", unique=False,
        single_valued=False, do_not_merge=False, can_grant_access=True, matchable=False,
    )
    types = {t.key: t for t in IdentifierType.objects.filter(
        key__in=["store_card", "email", "customer_id"])}
    types["store_card"] = store_card
    profiles = [Profile.objects.create() for _ in range(90)]
    for profile in profiles:
        for type_key, values in (("store_card", 3), ("email", 40), ("customer_id", 30)):
            for value in rng.sample(range(values), rng.choice([0, 0, 1, 1, 2])):
                Identifier.objects.create(
                    profile=profile, type=types[type_key], raw_value=f"{type_key}-{value}",
                    value=f"{type_key}-{value}-{profile.pk}" if type_key == "customer_id"
                    else f"{type_key}-{value}",
                    is_unique=type_key == "customer_id", is_single_valued=False,
                    grants_access=type_key != "customer_id" and rng.random() < 0.5,
                )
    for tombstone in rng.sample(profiles, 5):
        Profile.objects.filter(pk=tombstone.pk).update(status="merged",
                                                       merged_into=profiles[0])
    groups = [rng.sample(profiles, rng.choice([2, 2, 2, 3])) for _ in range(70)]
    for members in groups:
        made = DuplicateCandidate.objects.create()
        CandidateMember.objects.bulk_create(
            CandidateMember(candidate=made, profile=profile) for profile in members)
    for members in rng.sample(groups, 4):
        made = DuplicateCandidate.objects.create(
            status="dismissed", dismissed_by=senior, dismissed_at=timezone.now(),
            dismiss_reason="Different people", closed_at=timezone.now())
        CandidateMember.objects.bulk_create(
            CandidateMember(candidate=made, profile=profile) for profile in members[:2])
    for members in rng.sample(groups, 3):
        MergeJob.objects.create(survivor=members[0], merged_profile_ids=[members[1].pk],
                                status="queued")

    impact = preview(IdentifierType.objects.get(key=key), changes)

    flags = {key: changes}
    open_ids = list(DuplicateCandidate.objects.filter(status="open").values_list("pk", flat=True))
    before, after = group_states(open_ids), group_states(open_ids, type_flags=flags)
    expected = {"blocked": 0, "unblocked": 0, "become_blocked": {}, "become_unblocked": {},
                "added": {}, "removed": {}, "changed": []}
    for pk in sorted(open_ids):
        was, now = blocking_codes(before[pk]), blocking_codes(after[pk])
        if was == now:
            continue
        expected["changed"].append(pk)
        if not was:
            expected["blocked"] += 1
            for code in now:
                expected["become_blocked"][code] = expected["become_blocked"].get(code, 0) + 1
        elif not now:
            expected["unblocked"] += 1
            for code in was:
                expected["become_unblocked"][code] = expected["become_unblocked"].get(code, 0) + 1
        else:
            for code in set(now) - set(was):
                expected["added"][code] = expected["added"].get(code, 0) + 1
            for code in set(was) - set(now):
                expected["removed"][code] = expected["removed"].get(code, 0) + 1
    assert expected["changed"], "the random data should give the change something to change"
    assert (impact.blocked_total, impact.unblocked_total) == (
        expected["blocked"], expected["unblocked"])
    assert impact.become_blocked == expected["become_blocked"]
    assert impact.become_unblocked == expected["become_unblocked"]
    assert impact.reasons_added == expected["added"]
    assert impact.reasons_removed == expected["removed"]
    assert impact.sample == expected["changed"][:10]
