"""A value many profiles share (a household's landline, a shop's placeholder phone) is no
reason for writers to wait for each other: only unique values order writers (SPEC 3.5)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

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


def in_a_thread(record, match_key):
    """A write in a thread and a connection of its own: its future."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(in_own_connection(lambda: write(record, match_key)))
    pool.shutdown(wait=False)
    return future


@contextmanager
def held_open(record, match_key):
    """A write in a transaction of its own (another thread), not committed until the block ends."""
    written, may_commit = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            write(record, match_key)
            written.set()
            may_commit.wait(timeout=60)

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(in_own_connection(hold))
        try:
            assert written.wait(timeout=30)
            yield
        finally:
            may_commit.set()
        held.result(timeout=30)


def holders_of(value):
    return set(Identifier.objects.filter(type__key="phone", value=value)
               .values_list("profile_id", flat=True))


def test_a_write_carrying_a_household_phone_does_not_wait_for_another_household_member():
    ann = write({"email": "ann@example.com", "phone": LANDLINE}, "email")

    with held_open({"email": "ann@example.com", "phone": LANDLINE, "tier": "gold"}, "email"):
        # Bob's write ends while Ann's transaction, which holds the same phone, is open.
        bob = in_a_thread({"email": "bob@example.com", "phone": "212-555-0142"}, "email")
        bob = bob.result(timeout=30)

    assert bob.created and bob.profile_id != ann.profile_id
    assert holders_of("+12125550142") == {ann.profile_id, bob.profile_id}


def test_a_write_meeting_a_phone_its_profile_got_from_a_concurrent_writer_does_not_add_it_twice():
    ann = write({"email": "ann@example.com"}, "email")

    with held_open({"email": "ann@example.com", "phone": LANDLINE}, "email"):
        # Waits for Ann's profile, then sees the phone the first writer gave her.
        second = in_a_thread({"customer_id": "C-1", "email": "ann@example.com",
                              "phone": "+1 212 555 0142"}, "customer_id")
    second = second.result(timeout=30)

    assert second.profile_id == ann.profile_id and not second.conflicts
    assert holders_of("+12125550142") == {ann.profile_id}
    assert Identifier.objects.filter(profile_id=ann.profile_id, type__key="phone").count() == 1
