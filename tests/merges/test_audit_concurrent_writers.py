"""Concurrent writers never fork the chain (SPEC 7)."""

import threading

import pytest
from django.db import connection, transaction

from merges.audit import record
from merges.audit.chain import verify_chain
from merges.models import AuditEntry

WRITERS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_leave_one_unbroken_chain():
    barrier = threading.Barrier(WRITERS)
    errors = []

    def writer(n):
        try:
            barrier.wait()
            with transaction.atomic():
                record(actor=None, action="candidate.claimed", targets={"candidate": n},
                       after={"assignee": f"steward {n}"})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    entries = list(AuditEntry.objects.order_by("id"))
    assert len(entries) == WRITERS
    assert sorted(e.targets["candidate"] for e in entries) == list(range(WRITERS))
    # One line: every entry names the one before it, none is named twice.
    assert [e.previous_hash for e in entries] == ["", *[e.hash for e in entries[:-1]]]
    assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)
    check = verify_chain()
    assert (check.passed, check.entries) == (True, WRITERS)
