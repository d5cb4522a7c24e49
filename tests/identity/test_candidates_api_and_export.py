import json

import pytest
from django.core.management import call_command

from identity.matching.detect import detect_all
from tests.factories import make_token, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def household():
    for card, first in (("LC-1", "Maria"), ("LC-2", "Carlos")):
        write({"loyalty_card": card, "phone": "(212) 555-0142", "first_name": first,
               "last_name": "Garcia"}, "loyalty_card")
    for n in range(3):
        write({"email": f"a{n}@example.com", "phone": f"(646) 555-01{n}0"}, "email")
        write({"email": f"b{n}@example.com", "phone": f"(646) 555-01{n}0"}, "email")
    detect_all()


def all_pages(client, token, url):
    results = []
    while url:
        page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        results += page["results"]
        url = page["next"]
    return results


def test_the_candidates_api_pages_through_open_candidates_with_blocking_reasons(
    client, household
):
    token = make_token()

    results = all_pages(client, token, "/api/v1/candidates?status=open&limit=2")

    assert len(results) == 4
    garcia = next(c for c in results if c["blockingReasons"])
    (reason,) = garcia["blockingReasons"]
    assert reason["code"] == "unique_id_conflict"
    assert "LC-1" in json.dumps(reason["evidence"]) and "LC-2" in json.dumps(reason["evidence"])
    assert reason["remedies"]
    assert garcia["evidence"][0]["rule"] == "shared_value"


def test_a_bad_status_is_a_400(client):
    token = make_token()

    response = client.get("/api/v1/candidates?status=maybe",
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "status"


def test_export_and_api_agree(client, household, capsys):
    token = make_token()
    from_api = all_pages(client, token, "/api/v1/candidates?status=open&limit=3")

    call_command("export_candidates", "--status", "open", "--format", "json")
    exported = json.loads(capsys.readouterr().out)

    assert exported == from_api


def test_export_as_csv_has_a_row_per_candidate_with_reason_codes(household, capsys):
    call_command("export_candidates", "--status", "open")
    lines = capsys.readouterr().out.strip().splitlines()

    assert lines[0].startswith("candidate_id,status,score")
    assert len(lines) == 5
    assert sum("unique_id_conflict" in line for line in lines) == 1
