"""Identifier types are cached per process: a change to a type's flags is seen by the next write."""

import pytest
from django.db import IntegrityError, transaction

from identity.models import Identifier, IdentifierType
from identity.writing.resolution import identifier_types
from tests.factories import identifiers_of, write

pytestmark = pytest.mark.django_db


def test_a_type_made_single_valued_is_single_valued_for_the_next_write():
    crm = IdentifierType.objects.create(key="crm_id", label="CRM ID", unique=True, priority=6)
    write({"email": "ann@example.com", "crm_id": "A-0"}, "email")

    IdentifierType.objects.filter(pk=crm.pk).update(single_valued=True)
    profile = write({"email": "jane@example.com", "crm_id": "A-1"}, "email").profile_id
    write({"email": "jane@example.com", "crm_id": "B-2"}, "email")

    assert Identifier.objects.get(value="A-1").is_single_valued
    assert identifiers_of(profile, current=True)["crm_id"] == ["B-2"]
    assert identifiers_of(profile, current=False)["crm_id"] == ["A-1"]


def test_a_type_made_unique_finds_the_profile_for_the_next_write():
    store = IdentifierType.objects.create(key="store_card", label="Store card", priority=6)
    ann = write({"email": "ann@example.com", "store_card": "S-1"}, "email").profile_id
    IdentifierType.objects.filter(pk=store.pk).update(unique=True)

    again = write({"email": "ann.new@example.com", "store_card": "S-1"}, "email")

    assert (again.profile_id, again.created) == (ann, False)


def test_a_new_type_is_an_identifier_for_the_next_write_not_an_attribute():
    identifier_types()
    IdentifierType.objects.create(key="crm_id", label="CRM ID", unique=True, priority=6)

    profile = write({"email": "jane@example.com", "crm_id": "A-1"}, "email").profile_id

    assert identifiers_of(profile)["crm_id"] == ["A-1"]


def test_unchanged_types_are_checked_with_one_query_and_not_loaded_again(
    django_assert_num_queries,
):
    first = identifier_types()

    with django_assert_num_queries(1):
        again = identifier_types()

    assert again is first


def test_identifiers_follow_their_types_flags_whoever_changes_the_type():
    crm = IdentifierType.objects.create(key="crm_id", label="CRM ID", priority=6)
    write({"email": "ann@example.com", "crm_id": "A-1"}, "email")

    IdentifierType.objects.filter(pk=crm.pk).update(unique=True, single_valued=True)

    assert Identifier.objects.filter(type=crm).values_list(
        "is_unique", "is_single_valued"
    ).get() == (True, True)


def test_a_type_cannot_be_made_unique_while_two_active_profiles_share_a_value():
    store = IdentifierType.objects.create(key="store_card", label="Store card", priority=6)
    write({"email": "ann@example.com", "store_card": "S-1"}, "email")
    write({"email": "bob@example.com", "store_card": "S-1"}, "email")

    with pytest.raises(IntegrityError), transaction.atomic():
        IdentifierType.objects.filter(pk=store.pk).update(unique=True)

    store.refresh_from_db()
    assert not store.unique
    assert not Identifier.objects.filter(type=store, is_unique=True).exists()
