"""A value many profiles share (a household's landline, a shop's placeholder phone) is no
reason for writers to wait for each other: only unique values order writers (SPEC 3.5)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from identity.models import Identifier
from tests.factories import write

pytestmark = pytest.mark.django_db(transaction=True)

LANDLINE = "(212) 555-0142"


def in_own_connection(fn):
    def run():
        try:
            return fn()
        finally:
            connection.close()
    return run


def holders_of(value):
    return set(Identifier.objects.filter(type__key="phone", value=value)
               .values_list("profile_id", flat=True))


def test_a_write_carrying_a_household_phone_does_not_wait_for_another_household_member():
    ann = write({"email": "ann@example.com", "phone": LANDLINE}, "email")
    ann_is_writing, ann_may_commit = threading.Event(), threading.Event()

    def ann_writes_and_holds_her_transaction_open():
        with transaction.atomic():
            write({"email": "ann@example.com", "phone": LANDLINE, "tier": "gold"}, "email")
            ann_is_writing.set()
            ann_may_commit.wait(timeout=60)

    with ThreadPoolExecutor(2) as pool:
        ann_done = pool.submit(in_own_connection(ann_writes_and_holds_her_transaction_open))
        try:
            assert ann_is_writing.wait(timeout=30)
            bob = pool.submit(in_own_connection(
                lambda: write({"email": "bob@example.com", "phone": "212-555-0142"}, "email")
            ))
            # Bob's write ends while Ann's transaction, which holds the same phone, is open.
            bob = bob.result(timeout=30)
        finally:
            ann_may_commit.set()
        ann_done.result(timeout=30)

    assert bob.created and bob.profile_id != ann.profile_id
    assert holders_of("+12125550142") == {ann.profile_id, bob.profile_id}


def test_a_write_meeting_a_phone_its_profile_got_from_a_concurrent_writer_does_not_add_it_twice():
    ann = write({"email": "ann@example.com"}, "email")
    first_has_written, first_may_commit = threading.Event(), threading.Event()

    def first_writer():
        with transaction.atomic():
            write({"email": "ann@example.com", "phone": LANDLINE}, "email")
            first_has_written.set()
            first_may_commit.wait(timeout=60)

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(in_own_connection(first_writer))
        try:
            assert first_has_written.wait(timeout=30)
            # Waits for Ann's profile, then sees the phone the first writer gave her.
            second = pool.submit(in_own_connection(
                lambda: write({"customer_id": "C-1", "email": "ann@example.com",
                               "phone": "+1 212 555 0142"}, "customer_id")
            ))
        finally:
            first_may_commit.set()
        first.result(timeout=30)
        second = second.result(timeout=30)

    assert second.profile_id == ann.profile_id and not second.conflicts
    assert holders_of("+12125550142") == {ann.profile_id}
    assert Identifier.objects.filter(profile_id=ann.profile_id, type__key="phone").count() == 1
