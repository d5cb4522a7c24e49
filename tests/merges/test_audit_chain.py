"""`verify_audit` (SPEC 7): OK and the count for an intact chain; the first broken entry, why,
and a non-zero exit for a chain someone changed behind the triggers' back."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from merges.audit import record
from merges.audit.chain import verify_chain
from merges.models import AuditEntry, AuditVerification

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(steward):
    """Five entries, three with payloads."""
    record(actor=steward, action="candidate.claimed", targets={"candidate": 7},
           before={"assignee": None}, after={"assignee": "steward"})
    record(actor=steward, action="identifier.edited", targets={"profile": 3, "identifier": 9},
           before={"value": "jane@example.com"}, after={"value": "jane.doe@example.com"})
    record(actor=None, action="candidate.reopened", targets={"candidate": 7, "profiles": [3, 4]})
    record(actor=steward, action="candidate.dismissed",
           targets={"candidate": 7, "profiles": [4, 3]}, before={"status": "open"},
           after={"status": "dismissed", "reason": "twins", "score": 2.0})
    record(actor=None, action="api_token.created", targets={"api_token": "webshop"})
    return list(AuditEntry.objects.order_by("id"))


def verify():
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def tamper(sql, params=()):
    """What a superuser can do: switch the triggers off, change a row, switch them on."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks
        cursor.execute("ALTER TABLE merges_auditentry DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE merges_auditpayload DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE merges_auditentry ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE merges_auditpayload ENABLE TRIGGER USER")


def test_an_intact_chain_verifies_with_its_count(history):
    assert verify() == "OK: 5 audit entries verified.\n"


def test_each_entry_names_the_one_before(history):
    assert history[0].previous_hash == ""
    for before, after in zip(history, history[1:], strict=False):
        assert after.previous_hash == before.hash


def test_entries_keep_ids_only_and_their_payloads_keep_the_values(history):
    edited = history[1]
    assert edited.targets == {"profile": 3, "identifier": 9}
    assert edited.profile_ids == [3]
    assert edited.payload.data == {"before": {"value": "jane@example.com"},
                                   "after": {"value": "jane.doe@example.com"}}
    assert "jane" not in str(AuditEntry.objects.filter(pk=edited.pk).values().get())


def test_a_personal_value_given_as_a_target_goes_to_the_payload(steward):
    entry = record(actor=steward, action="api_token.revoked",
                   targets={"user": 5, "email": "jane@example.com"})
    assert entry.targets == {"user": 5}
    assert entry.payload.data == {"targets": {"email": "jane@example.com"}}


FIELDS = [
    ("created_at", "UPDATE merges_auditentry SET created_at = created_at + interval '1 second'"),
    ("actor_label", "UPDATE merges_auditentry SET actor_label = 'mallory'"),
    ("actor", "UPDATE merges_auditentry SET actor_id = NULL"),
    ("action", "UPDATE merges_auditentry SET action = 'candidate.claimed'"),
    ("targets", """UPDATE merges_auditentry SET targets = '{"candidate": 8}'"""),
    ("profile_ids", "UPDATE merges_auditentry SET profile_ids = '{3}'"),
    ("payload_hash", "UPDATE merges_auditentry SET payload_hash = repeat('0', 64)"),
    ("previous_hash", "UPDATE merges_auditentry SET previous_hash = repeat('0', 64)"),
]


@pytest.mark.parametrize("field, sql", FIELDS, ids=[field for field, _ in FIELDS])
def test_changing_any_field_of_an_entry_is_found_and_the_entry_named(history, field, sql):
    changed = history[3]
    tamper(f"{sql} WHERE id = %s", [changed.pk])

    with pytest.raises(CommandError) as refusal:
        verify()

    assert f"BROKEN at audit entry {changed.pk}:" in str(refusal.value)
    assert refusal.value.returncode == 1


def test_a_changed_hash_is_named_as_such(history):
    tamper("UPDATE merges_auditentry SET hash = repeat('a', 64) WHERE id = %s", [history[2].pk])

    check = verify_chain()

    assert (check.broken_entry, check.problem) == (history[2].pk, "its stored hash was changed")


def test_a_changed_payload_is_found(history):
    tamper("UPDATE merges_auditpayload SET data = jsonb_set(data, '{after,value}', "
           "'\"x@example.com\"') WHERE entry_id = %s", [history[1].pk])

    check = verify_chain()

    assert check.broken_entry == history[1].pk
    assert "payload was changed" in check.problem


def test_a_payload_removed_without_an_erasure_is_broken_not_erased(history):
    tamper("DELETE FROM merges_auditpayload WHERE entry_id = %s", [history[1].pk])

    check = verify_chain()

    assert check.broken_entry == history[1].pk
    assert "missing and no erasure removed it" in check.problem


def test_an_entry_removed_from_the_middle_is_found_at_the_next_one(history):
    tamper("DELETE FROM merges_auditentry WHERE id = %s", [history[2].pk])

    check = verify_chain()

    assert check.broken_entry == history[3].pk
    assert "previous_hash is not the hash of the entry before it" in check.problem


def test_the_first_entry_removed_is_found(history):
    tamper("DELETE FROM merges_auditpayload WHERE entry_id = %s", [history[0].pk])
    tamper("DELETE FROM merges_auditentry WHERE id = %s", [history[0].pk])

    assert verify_chain().broken_entry == history[1].pk


def test_each_check_is_remembered(history):
    verify()
    tamper("UPDATE merges_auditentry SET action = 'x' WHERE id = %s", [history[4].pk])
    with pytest.raises(CommandError):
        verify()

    checks = list(AuditVerification.objects.order_by("id").values_list(
        "passed", "entries", "broken_entry"))
    assert checks == [(True, 5, None), (False, 4, history[4].pk)]
