"""Detection through the real Celery worker: after a write, and as a full run with progress."""

import json

import pytest
from django.core.management import call_command

from identity.models import DetectionRun, DuplicateCandidate
from tests.factories import make_token, post_json, wait_for, write

pytestmark = pytest.mark.django_db(transaction=True)



def test_a_write_sharing_a_phone_becomes_a_candidate_through_the_worker(
    client, settings, celery_worker
):
    settings.DETECT_ON_WRITE = True
    token = make_token()
    for email in ("ann@example.com", "bea@example.com"):
        response = post_json(client, "/api/v1/profiles/upsert",
                             {"record": {"email": email, "phone": "(212) 555-0111"},
                              "matchKey": "email"}, token)
        assert response.status_code == 201

    assert wait_for(lambda: DuplicateCandidate.objects.filter(status="open").exists())
    candidate = DuplicateCandidate.objects.get()
    assert candidate.evidence[0]["value"] == "+12125550111"
    assert candidate.profiles.count() == 2


def test_detect_duplicates_runs_in_the_worker_and_reports_progress(capsys, celery_worker):
    write({"email": "ann@example.com", "phone": "(212) 555-0111"}, "email")
    write({"email": "bea@example.com", "phone": "(212) 555-0111"}, "email")

    call_command("detect_duplicates")

    run = DetectionRun.objects.get()
    assert (run.status, run.progress, run.stage) == ("succeeded", 100, "done")
    assert run.figures["created"] == 1
    assert "1 groups, 1 new" in capsys.readouterr().out
    assert json.dumps(DuplicateCandidate.objects.get().evidence).count("+12125550111") == 1
