"""`POST /api/v1/profiles/batch`: many writes in one request, each answered as an upsert."""

import json

import pytest

from identity.models import DuplicateCandidate, Identifier
from profiles.models import Profile
from tests.factories import identifiers_of, make_token, post_json

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/profiles/batch"
UPSERT = "/api/v1/profiles/upsert"


@pytest.fixture
def token():
    return make_token()


def send(client, token, records, **headers):
    return post_json(client, BATCH, {"records": records}, token, **headers)


def test_each_record_is_answered_in_order_as_an_upsert_would_be(client, token):
    response = send(client, token, [
        {"record": {"email": "Jane@Example.com ", "first_name": "Jane"}, "matchKey": "email"},
        {"record": {"email": "bob@example.com"}, "matchKey": "email"},
        # The same person again, later in the same batch: resolved to the profile made above.
        {"record": {"email": "jane@example.com", "phone": "(212) 555-0134"},
         "matchKey": "email"},
    ])

    assert response.status_code == 200
    body = response.json()
    jane, bob, jane_again = body["results"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert (jane["status"], jane["created"]) == (201, True)
    assert (bob["status"], bob["created"]) == (201, True)
    assert (jane_again["status"], jane_again["created"]) == (200, False)
    assert jane_again["profileId"] == jane["profileId"]
    assert (body["created"], body["matched"], body["rejected"]) == (2, 1, 0)
    assert identifiers_of(jane["profileId"]) == {
        "email": ["jane@example.com"], "phone": ["+12125550134"],
    }
    assert Profile.objects.count() == 2


def test_a_bad_record_rejects_only_itself_and_its_error_names_the_field(client, token):
    response = send(client, token, [
        {"record": {"email": "ann@example.com"}, "matchKey": "email"},
        {"record": {"email": "not an address"}, "matchKey": "email"},
        {"record": {"email": "cy@example.com", "phone": "12"}, "matchKey": "email"},
        "not a write",
        {"record": {"email": "dee@example.com"}, "matchKey": "email"},
    ])

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 400, 201]
    assert results[1]["error"]["field"] == "records[1].record.email"
    assert results[2]["error"]["field"] == "records[2].record.phone"
    assert results[3]["error"]["field"] == "records[3]"
    assert "not a valid email" in results[1]["error"]["message"]
    assert "profileId" not in results[1]
    assert response.json()["rejected"] == 3
    assert sorted(Identifier.objects.values_list("value", flat=True)) == [
        "ann@example.com", "dee@example.com",
    ]


def test_a_batch_reports_collisions_and_conflicts_as_the_upsert_does(client, token):
    first = post_json(client, UPSERT, {"record": {"customer_id": "C1"},
                                       "matchKey": "customer_id"}, token).json()
    second = post_json(client, UPSERT, {"record": {"email": "j@example.com"},
                                        "matchKey": "email"}, token).json()

    results = send(client, token, [
        {"record": {"customer_id": "C1", "email": "j@example.com"}, "matchKey": "customer_id"},
        {"record": {"customer_id": "C2", "email": "j@example.com"}, "matchKey": "email"},
        {"record": {"customer_id": "C3", "email": "j@example.com"}, "matchKey": "email"},
    ]).json()["results"]

    collision = results[0]["conflicts"]
    assert results[0]["profileId"] == first["profileId"]
    assert collision[0]["kind"] == "collision"
    assert collision[0]["heldBy"] == second["profileId"]
    assert DuplicateCandidate.objects.filter(pk=collision[0]["candidateId"]).exists()
    assert results[1]["conflicts"] == []  # C2 added to the email's profile...
    assert results[2]["conflicts"] == [  # ... which the next record of the batch then meets
        {"kind": "conflict", "type": "customer_id", "value": "C3",
         "heldBy": second["profileId"], "candidateId": None, "currentValue": "C2"},
    ]
    assert identifiers_of(second["profileId"])["customer_id"] == ["C2"]


def test_too_many_records_or_bytes_are_refused_whole_with_413(client, token):
    records = [{"record": {"email": f"p{n}@example.com"}, "matchKey": "email"}
               for n in range(1001)]

    too_many = send(client, token, records)
    too_big = post_json(client, BATCH, json.dumps({"records": [
        {"record": {"email": "a@example.com", "note": "x" * 900}, "matchKey": "email"}
    ] * 5000}), token)

    assert too_many.status_code == 413
    assert too_many.json()["error"]["field"] == "records"
    assert "at most 1,000" in too_many.json()["error"]["message"]
    assert too_big.status_code == 413
    assert Profile.objects.count() == 0


@pytest.mark.parametrize("body, field", [
    ("{", "body"),
    ([], "body"),
    ({}, "records"),
    ({"records": []}, "records"),
    ({"records": {"record": {}}}, "records"),
])
def test_a_body_that_is_not_a_list_of_records_is_a_400_naming_it(client, token, body, field):
    response = post_json(client, BATCH, body, token)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_a_batch_needs_a_token(client):
    response = client.post(BATCH, data=json.dumps({"records": []}),
                           content_type="application/json")

    assert response.status_code == 401


def test_the_batch_is_described_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json()

    operation = document["paths"]["/api/v1/profiles/batch"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WriteBatch"
    }
    assert document["components"]["schemas"]["WriteBatch"]["properties"]["records"][
        "maxItems"] == 1000
    assert "error" in document["components"]["schemas"]["BatchResults"]["properties"][
        "results"]["items"]["properties"]
