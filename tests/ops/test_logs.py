"""Application logs (config/logging.py): emails and phone numbers never appear unmasked; each
line names its request id (answered as X-Request-ID), its user or token, and its job; a refusal is
one line, not a traceback."""

import logging

import pytest

from config.celery import app as celery_app
from tests.factories import make_token, post_json

pytestmark = pytest.mark.django_db

UPSERT = "/api/v1/profiles/upsert"


def console_lines(records):
    """The records as the configured console handler writes them."""
    (console,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    return [console.format(record) for record in records]


def test_emails_and_phones_refused_or_looked_up_through_the_api_are_masked(client, caplog):
    token = make_token("webshop")
    with caplog.at_level(logging.INFO):
        written = post_json(client, UPSERT, {
            "record": {"email": "Jane.Doe@Example.com", "phone": "+1 212 555 12345"},
            "matchKey": "email"}, token)
        looked_up = client.get("/api/v1/profiles/lookup?type=email&value=john.roe@example.org",
                               headers={"Authorization": f"Bearer {token}"})

    assert written.status_code == 400 and looked_up.status_code == 404
    text = "\n".join(console_lines(caplog.records))
    for personal in ("Jane.Doe", "jane.doe", "john.roe", "212 555 1234", "2125551234"):
        assert personal not in text
    refused, missing = [r for r in caplog.records if r.name == "django.request"]
    assert "(invalid record.phone: '+* *** *** ***45' is not a valid phone number)" in (
        refused.getMessage())
    assert "no active profile holds email j***@e***.org" in missing.getMessage()


def test_each_line_names_the_request_id_answered_and_the_token(client, caplog):
    token = make_token("webshop")
    with caplog.at_level(logging.INFO):
        response = post_json(client, UPSERT, {"record": {"email": "x"}, "matchKey": "email"},
                             token)

    (record,) = [r for r in caplog.records if r.name == "django.request"]
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    assert record.request_id == request_id and record.user == "token:webshop"
    (line,) = console_lines([record])
    assert f"[request={request_id} user=token:webshop job=-]" in line


def test_a_request_id_given_by_a_proxy_is_kept(client):
    response = client.get("/api/v1/candidates", headers={"X-Request-ID": "edge-4f1c2a9b77"})

    assert response.status_code == 401
    assert response["X-Request-ID"] == "edge-4f1c2a9b77"


def test_a_request_id_given_with_a_line_break_is_replaced(client):
    response = client.get("/api/v1/candidates", headers={"X-Request-ID": "edge-4f1c2a9b77\n"})

    assert response.status_code == 401
    assert len(response["X-Request-ID"]) == 32 and "\n" not in response["X-Request-ID"]


def test_an_email_in_a_path_is_masked_in_the_line_django_writes(client, caplog):
    token = make_token("webshop")
    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/profiles/jane.doe@example.com",
                              headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 404
    assert "jane.doe@example.com" not in caplog.text
    (line,) = console_lines([r for r in caplog.records if r.name == "django.request"])
    assert "Not Found: /api/v1/profiles/j***@e***.com" in line


def test_a_page_refused_for_a_missing_permission_is_one_line_naming_it(client, nobody, caplog):
    client.force_login(nobody)
    with caplog.at_level(logging.INFO):
        response = client.get("/")

    assert response.status_code == 403
    (refusal,) = [r for r in caplog.records if r.name == "django.request"]
    assert refusal.exc_info is None and "Traceback" not in caplog.text
    assert "identity.view_duplicatecandidate" in refusal.getMessage()
    assert refusal.user == "nobody"


def test_a_task_s_lines_name_its_job(caplog):
    with caplog.at_level(logging.INFO, logger="merges.audit.tasks"):
        result = celery_app.tasks["merges.audit.verify_audit_chain"].apply()

    (record,) = [r for r in caplog.records if r.name == "merges.audit.tasks"]
    assert record.job == f"verify_audit_chain:{result.id}"
