"""SPEC section 3: how a write finds (or makes) its profile."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.models import DuplicateCandidate, Identifier, IdentifierType, IdentityConflict
from identity.writing.parsing import InvalidWrite
from profiles.models import Profile
from tests.factories import identifiers_of, write

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes):
    return (T0 + timedelta(minutes=minutes)).isoformat()


# The six ways a profile can hold an id and/or an email ($id, $email).


def test_a_write_by_id_only_makes_one_profile_and_finds_it_again():
    first = write({"customer_id": "C1"}, "customer_id")
    second = write({"customer_id": "C1", "tier": "gold"}, "customer_id")

    assert first.created and not second.created
    assert second.profile_id == first.profile_id
    assert Profile.objects.count() == 1


def test_a_write_by_email_only_finds_the_profile_whatever_the_case_and_spaces():
    first = write({"email": "Jane@Example.com "}, "email")
    second = write({"email": " jane@example.COM"}, "email")

    assert second.profile_id == first.profile_id
    assert identifiers_of(first.profile_id) == {"email": ["jane@example.com"]}


def test_an_id_only_profile_receiving_id_and_email_gains_the_email():
    profile = write({"customer_id": "C1"}, "customer_id").profile_id

    result = write({"customer_id": "C1", "email": "jane@example.com"}, "email")

    assert result.profile_id == profile and not result.created
    assert identifiers_of(profile) == {"customer_id": ["C1"], "email": ["jane@example.com"]}
    assert Profile.objects.count() == 1


def test_an_email_only_profile_receiving_id_and_email_gains_the_id():
    profile = write({"email": "jane@example.com"}, "email").profile_id

    result = write({"customer_id": "C1", "email": "jane@example.com"}, "customer_id")

    assert result.profile_id == profile and not result.created
    assert identifiers_of(profile) == {"customer_id": ["C1"], "email": ["jane@example.com"]}


def test_the_same_email_with_another_id_is_a_conflict_not_a_second_id():
    profile = write({"customer_id": "C1", "email": "jane@example.com"}, "customer_id").profile_id

    result = write({"customer_id": "C2", "email": "jane@example.com"}, "email")

    assert result.profile_id == profile
    assert [c.as_json() for c in result.conflicts] == [{
        "kind": "conflict", "type": "customer_id", "value": "C2", "heldBy": profile,
        "candidateId": None, "currentValue": "C1",
    }]
    assert identifiers_of(profile)["customer_id"] == ["C1"]
    assert IdentityConflict.objects.filter(kind="conflict", value="C2", profile_id=profile).exists()


def test_an_id_only_and_an_email_only_profile_are_linked_later_as_a_recorded_collision():
    by_id = write({"customer_id": "C1"}, "customer_id").profile_id
    by_email = write({"email": "jane@example.com"}, "email").profile_id
    assert by_id != by_email

    linking = write({"customer_id": "C1", "email": "jane@example.com"}, "customer_id")

    assert linking.profile_id == by_id
    (conflict,) = linking.conflicts
    assert (conflict.kind, conflict.type, conflict.value, conflict.held_by) == (
        "collision", "email", "jane@example.com", by_email
    )
    candidate = DuplicateCandidate.objects.get(pk=conflict.candidate_id)
    assert candidate.status == "open"
    assert set(candidate.profiles.values_list("pk", flat=True)) == {by_id, by_email}
    assert candidate.evidence[0]["rule"] == "collision"
    assert candidate.evidence[0]["type"] == "email"
    assert candidate.evidence[0]["value"] == "jane@example.com"
    assert not candidate.auto_merge
    # The email stays where it was.
    assert identifiers_of(by_email) == {"email": ["jane@example.com"]}
    assert "email" not in identifiers_of(by_id)


def test_the_same_collision_written_again_updates_one_candidate():
    write({"customer_id": "C1"}, "customer_id")
    write({"email": "jane@example.com"}, "email")

    write({"customer_id": "C1", "email": "jane@example.com"}, "customer_id")
    write({"customer_id": "C1", "email": "jane@example.com"}, "customer_id")

    assert DuplicateCandidate.objects.count() == 1
    assert len(DuplicateCandidate.objects.get().evidence) == 1


# A customer's journey through the channels.


def test_anonymous_visitor_signs_up_logs_in_buys_and_gives_a_phone():
    known = write({"email": "jane@example.com", "customer_id": "C1"}, "email").profile_id
    anonymous = write({"anonymous_id": "anon-42", "last_page": "/shoes"}, "anonymous_id")

    login = write(
        {"email": "jane@example.com", "anonymous_id": "anon-42"}, "email",
        accessContacts=["email"],
    )
    purchase = write({"customer_id": "C1", "order_total": 59.9}, "customer_id")
    phone = write({"customer_id": "C1", "phone": "(212) 555-1234"}, "customer_id")

    assert login.profile_id == purchase.profile_id == phone.profile_id == known
    assert identifiers_of(known) == {
        "customer_id": ["C1"], "email": ["jane@example.com"], "phone": ["+12125551234"],
    }
    (collision,) = login.conflicts
    assert (collision.type, collision.held_by) == ("anonymous_id", anonymous.profile_id)
    candidate = DuplicateCandidate.objects.get(pk=collision.candidate_id)
    assert candidate.auto_merge, "a collision on anonymous_id is marked for automatic merge"
    assert Identifier.objects.get(type__key="email", value="jane@example.com").grants_access


def test_a_list_of_phones_stores_each():
    result = write(
        {"email": "jane@example.com", "phone": ["(212) 555-1234", "+1 646 555 0100"]}, "email"
    )

    assert identifiers_of(result.profile_id)["phone"] == ["+12125551234", "+16465550100"]


def test_a_second_customer_id_on_a_profile_that_holds_one_is_reported_and_not_stored():
    profile = write({"email": "jane@example.com", "customer_id": "C1"}, "email").profile_id

    result = write({"email": "jane@example.com", "customer_id": "C9"}, "email")

    assert [(c.kind, c.type, c.value) for c in result.conflicts] == [
        ("conflict", "customer_id", "C9")
    ]
    assert identifiers_of(profile)["customer_id"] == ["C1"]
    assert not Identifier.objects.filter(value="C9").exists()


def test_giving_a_profile_another_profiles_customer_id_keeps_the_id_where_it_is():
    jane = write({"email": "jane@example.com"}, "email").profile_id
    john = write({"email": "john@example.com", "customer_id": "C7"}, "email").profile_id

    result = write({"email": "jane@example.com", "customer_id": "C7"}, "email")

    assert result.profile_id == jane
    (conflict,) = result.conflicts
    assert (conflict.kind, conflict.type, conflict.value, conflict.held_by) == (
        "collision", "customer_id", "C7", john
    )
    assert identifiers_of(john)["customer_id"] == ["C7"]
    assert "customer_id" not in identifiers_of(jane)
    recorded = IdentityConflict.objects.get(kind="collision", value="C7")
    assert (recorded.profile_id, recorded.held_by_id) == (jane, john)
    assert recorded.candidate_id == conflict.candidate_id


def test_an_email_change_through_a_stable_customer_id_reaches_the_same_profile():
    profile = write({"customer_id": "C1", "email": "old@example.com"}, "customer_id").profile_id

    write({"customer_id": "C1", "email": "new@example.com"}, "customer_id")
    by_new_email = write({"email": "new@example.com", "city": "Leeds"}, "email")

    assert by_new_email.profile_id == profile and not by_new_email.created
    assert identifiers_of(profile)["email"] == ["new@example.com", "old@example.com"]


def test_a_single_valued_type_keeps_the_replaced_value_as_previous_and_it_still_leads_home():
    IdentifierType.objects.create(
        key="crm_id", label="CRM ID", unique=True, single_valued=True, priority=6
    )
    profile = write({"email": "jane@example.com", "crm_id": "A-1"}, "email").profile_id

    write({"email": "jane@example.com", "crm_id": "B-2"}, "email")
    by_old = write({"crm_id": "A-1", "nickname": "JJ"}, "crm_id")

    assert identifiers_of(profile, current=True)["crm_id"] == ["B-2"]
    assert identifiers_of(profile, current=False)["crm_id"] == ["A-1"]
    assert by_old.profile_id == profile


def test_a_do_not_merge_value_is_never_replaced():
    profile = write({"email": "jane@example.com", "loyalty_card": "L-1"}, "email").profile_id

    result = write({"email": "jane@example.com", "loyalty_card": "L-2"}, "email")

    assert result.conflicts[0].current_value == "L-1"
    assert identifiers_of(profile)["loyalty_card"] == ["L-1"]


# Attributes: last write wins, field by field, whatever the arrival order.


WRITES = [
    ({"email": "jane@example.com", "tier": "silver", "city": "York"}, at(1)),
    ({"email": "jane@example.com", "tier": "gold"}, at(3)),
    ({"email": "jane@example.com", "city": "Leeds", "tier": "bronze"}, at(2)),
    ({"email": "jane@example.com", "city": None}, at(4)),
    ({"email": "jane@example.com", "city": "Hull"}, at(0)),
]


def attributes_after(order):
    for index in order:
        record, observed = WRITES[index]
        profile_id = write(record, "email", observedAt=observed).profile_id
    profile = Profile.objects.get(pk=profile_id)
    return {name: held["v"] for name, held in profile.attributes.items()}


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]])
def test_out_of_order_writes_give_the_attributes_of_in_order_ones(order):
    assert attributes_after(order) == {"tier": "gold", "city": None}


def test_an_explicit_null_clears_and_an_older_write_does_not_bring_the_value_back():
    write({"email": "jane@example.com", "city": "York"}, "email", observedAt=at(1))
    write({"email": "jane@example.com", "city": None}, "email", observedAt=at(2))
    profile_id = write(
        {"email": "jane@example.com", "city": "Leeds"}, "email", observedAt=at(0)
    ).profile_id

    assert Profile.objects.get(pk=profile_id).attribute("city") is None


def test_writes_at_the_same_moment_settle_on_the_same_value_in_any_order():
    write({"email": "a@example.com", "tier": "gold"}, "email", observedAt=at(1))
    write({"email": "a@example.com", "tier": "silver"}, "email", observedAt=at(1))
    write({"email": "b@example.com", "tier": "silver"}, "email", observedAt=at(1))
    write({"email": "b@example.com", "tier": "gold"}, "email", observedAt=at(1))

    tiers = {p.attribute("tier") for p in Profile.objects.all()}
    assert len(tiers) == 1


# Invalid writes: the field named, nothing written.


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"record": {"email": "jane@"}, "matchKey": "email"}, "record.email", "not a valid email"),
        ({"record": {"email": "a@example.com", "phone": "12"}, "matchKey": "email"},
         "record.phone", "phone"),
        ({"record": {"email": "a@example.com"}, "matchKey": "shoe_size"}, "matchKey",
         "not an identifier type"),
        ({"record": {"phone": "+12125551234"}, "matchKey": "phone"}, "matchKey", "not a unique"),
        ({"record": {"email": "a@example.com"}, "matchKey": "customer_id"}, "matchKey",
         "no 'customer_id' value"),
        ({"record": {"email": "a@example.com"}}, "matchKey", "matchKey is required"),
        ({"record": {"email": "a@example.com", "customer_id": "C1"}, "matchKey": "email",
          "accessContacts": ["customer_id"]}, "accessContacts", "cannot grant access"),
        ({"record": {"email": "a@example.com"}, "matchKey": "email",
          "accessContacts": ["phone"]}, "accessContacts", "no 'phone' value"),
        ({"record": {"email": "a@example.com", "first name": "Jo"}, "matchKey": "email"},
         "record.first name", "letters, digits and underscores"),
        ({"record": {"email": "a@example.com", "note": "x" * 1001}, "matchKey": "email"},
         "record.note", "longer than 1000"),
        ({"record": {"email": "a@example.com", "first name": ""}, "matchKey": "email"},
         "record.first name", "letters, digits and underscores"),
        ({"record": {"email": "a@example.com", "postcode": "1" * 21}, "matchKey": "email"},
         "record.postcode", "matched on: at most 20 characters"),
        ({"record": {"email": "a@example.com", "note": "a\x00b"}, "matchKey": "email"},
         "record.note", "NUL character"),
        ({"record": {"email": "a@example.com", "note": "Zo\udce9"}, "matchKey": "email"},
         "record.note", "lone surrogate"),
        ({"record": {"email": "a@example.com", "customer_id": "C\x001"}, "matchKey": "email"},
         "record.customer_id", "NUL character"),
        ({"record": {"email": "a@example.com", "customer_id": "x" * 1001}, "matchKey": "email"},
         "record.customer_id", "longer than 1000"),
        ({"record": {"email": "a@example.com", "customer_id": " "}, "matchKey": "email"},
         "record.customer_id", "the value is empty"),
        ({"record": {"email": "a@example.com", "phone": ["+12125551234", "12"]},
          "matchKey": "email"}, "record.phone[1]", "not a valid phone number"),
        ({"record": {"email": "a@example.com", "customer_id": ["C1", "C2"]},
          "matchKey": "email"}, "record.customer_id", "not a list"),
        ({"record": {"email": "a@example.com"}, "matchKey": "email", "observedAt": "yesterday"},
         "observedAt", "not a valid ISO 8601"),
    ],
)
def test_an_invalid_write_names_the_field_and_writes_nothing(payload, field, message):
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types

    with pytest.raises(InvalidWrite) as raised:
        parse_write(payload, types=identifier_types())

    assert raised.value.field == field
    assert message in raised.value.message
    assert not Profile.objects.exists()


def test_a_repeated_ambiguous_write_is_counted_on_one_record():
    write({"email": "jane@example.com", "customer_id": "C1"}, "email")
    write({"email": "jane@example.com", "customer_id": "C2"}, "email", observedAt=at(5))
    write({"email": "jane@example.com", "customer_id": "C2"}, "email", observedAt=at(9))

    recorded = IdentityConflict.objects.get()
    assert (recorded.kind, recorded.value, recorded.current_value, recorded.times) == (
        "conflict", "C2", "C1", 2
    )
    assert recorded.first_observed_at.isoformat() == at(5)
    assert recorded.last_observed_at.isoformat() == at(9)


def test_an_identifier_seen_twice_in_one_batch_keeps_its_first_and_last_sighting():
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types, resolve_writes

    types = identifier_types()
    resolve_writes([
        parse_write({"record": {"email": "jane@example.com"}, "matchKey": "email",
                     "observedAt": observed}, types=types)
        for observed in (at(5), at(9), at(1))
    ])

    identifier = Identifier.objects.get()
    assert identifier.first_seen.isoformat() == at(1)
    assert identifier.last_seen.isoformat() == at(9)


@pytest.mark.parametrize("record", [
    {"email": "jane@example.com", "note": "a\x00b"},
    {"email": "jane@example.com", "customer_id": "C\x001"},
    {"email": "jane@example.com", "score": float("nan")},
])
def test_values_the_database_cannot_hold_are_refused(record):
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types

    with pytest.raises(InvalidWrite):
        parse_write({"record": record, "matchKey": "email"}, types=identifier_types())


@pytest.mark.parametrize("batch", [1, 120], ids=["one write", "a load's batch"])
def test_attribute_values_are_stored_exactly_as_written(batch):
    """A load's batch copies its new profiles in, a single write inserts them: both keep every
    value as sent, numbers beyond 64 bits and text beyond ASCII included."""
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types, resolve_writes

    attributes = {"points": 10**30, "ratio": 0.1, "negative": -(2**63) - 1, "name": "Zoë ❤ 李",
                  "opted_in": True, "nickname": None}
    types = identifier_types()
    results = resolve_writes([
        parse_write({"record": {"email": f"p{n}@example.com", **attributes},
                     "matchKey": "email"}, types=types)
        for n in range(batch)
    ])

    for result in results:
        stored = Profile.objects.get(pk=result.profile_id).attributes
        assert {name: field["v"] for name, field in stored.items()} == attributes


@pytest.mark.parametrize("value", ['C "1", \\2 {3}', "NULL", "Zoë\\", '"'])
def test_an_identifier_with_quotes_backslashes_or_braces_is_found_again(value):
    # A batch sends the values it looks up as one array literal: each must arrive as written.
    first = write({"customer_id": value}, "customer_id")
    second = write({"customer_id": value, "tier": "gold"}, "customer_id")

    assert second.profile_id == first.profile_id and not second.created
    assert identifiers_of(first.profile_id) == {"customer_id": [value]}
