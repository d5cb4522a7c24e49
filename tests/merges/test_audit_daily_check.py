"""The chain is checked daily by Celery beat, and /healthz says when it last passed (SPEC 7)."""

import pytest
from django.conf import settings

from merges.audit import record
from merges.audit.tasks import verify_audit_chain
from tests.merges.test_audit_chain import tamper


def test_beat_checks_the_chain_every_day():
    entry = settings.CELERY_BEAT_SCHEDULE["verify-audit-chain"]
    assert entry == {"task": "merges.audit.verify_audit_chain", "schedule": 86400.0}
    assert verify_audit_chain.name == entry["task"]


@pytest.mark.django_db
def test_healthz_shows_when_the_chain_last_passed_and_a_break(client):
    assert client.get("/healthz").json()["audit"] == {
        "lastChecked": None, "lastResult": None, "lastPassed": None,
    }
    entry = record(actor=None, action="candidate.claimed", targets={"candidate": 1},
                   after={"assignee": "steward"})

    assert verify_audit_chain() is True
    passed = client.get("/healthz").json()["audit"]
    assert passed["lastResult"] == "ok"
    assert passed["lastPassed"] == passed["lastChecked"]

    tamper("UPDATE merges_auditentry SET actor_label = 'mallory' WHERE id = %s", [entry.pk])
    assert verify_audit_chain() is False
    broken = client.get("/healthz").json()["audit"]
    assert broken["lastResult"] == "broken"
    assert broken["brokenEntry"] == entry.pk
    assert broken["lastPassed"] == passed["lastPassed"]


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_check(celery_worker):
    record(actor=None, action="candidate.claimed", targets={"candidate": 1})

    assert verify_audit_chain.delay().get(timeout=60) is True
