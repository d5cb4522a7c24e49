"""The database itself refuses to change or remove audit entries (SPEC 7), whoever asks: the ORM
or a plain SQL connection."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from merges.audit import record
from merges.models import AuditEntry, AuditPayload
from tests.conftest import database_url


def _entries():
    with transaction.atomic():
        record(actor=None, action="candidate.dismissed",
               targets={"candidate": 1, "profiles": [1, 2]}, before={"status": "open"},
               after={"status": "dismissed", "reason": "twins"})
        record(actor=None, action="candidate.claimed", targets={"candidate": 1})


@pytest.fixture
def raw_sql(transactional_db):
    _entries()
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("statement", [
    "UPDATE merges_auditentry SET action = 'candidate.claimed'",
    "UPDATE merges_auditentry SET actor_label = 'mallory' "
    "WHERE id = (SELECT min(id) FROM merges_auditentry)",
    "DELETE FROM merges_auditentry",
    "TRUNCATE merges_auditentry CASCADE",
    "UPDATE merges_auditpayload SET data = '{}'",
    "DELETE FROM merges_auditpayload",
    "TRUNCATE merges_auditpayload",
])
def test_a_plain_sql_connection_cannot_change_or_remove_the_history(raw_sql, statement):
    with pytest.raises(psycopg.errors.RaiseException, match="append-only|Cannot"):
        raw_sql.execute(statement)

    assert raw_sql.execute("SELECT count(*) FROM merges_auditentry").fetchone()[0] == 2
    assert raw_sql.execute("SELECT count(*) FROM merges_auditpayload").fetchone()[0] == 1


@pytest.mark.django_db
def test_the_orm_cannot_change_or_remove_entries_either():
    _entries()
    entry, claim = AuditEntry.objects.order_by("id")

    for attempt in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(action="x"),
        lambda: AuditEntry.objects.filter(pk=claim.pk).delete(),
        lambda: AuditPayload.objects.filter(entry=entry).update(data={}),
        lambda: AuditPayload.objects.filter(entry=entry).delete(),
    ):
        with pytest.raises(DatabaseError, match="Cannot"), transaction.atomic():
            attempt()

    entry.refresh_from_db()
    assert entry.action == "candidate.dismissed"


@pytest.mark.django_db
def test_the_migration_installs_the_triggers_and_takes_them_away_again():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
            "WHERE tgname LIKE 'pgtrigger_%%' AND tgrelid::regclass::text LIKE 'merges_audit%%' "
            "ORDER BY 1, 2"
        )
        found = [(table, name.rsplit("_", 1)[0]) for table, name in cursor.fetchall()]
    assert found == [
        ("merges_auditentry", "pgtrigger_append_only"),
        ("merges_auditentry", "pgtrigger_no_truncate"),
        ("merges_auditpayload", "pgtrigger_erasure_only"),
        ("merges_auditpayload", "pgtrigger_no_truncate"),
        ("merges_auditpayload", "pgtrigger_no_update"),
    ]
