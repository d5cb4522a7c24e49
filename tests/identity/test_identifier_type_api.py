"""The identifier-type rows of the API (SPEC 10): teams keep their settings in code and apply
them from CI, with the page's preview, refusals, permission and audit."""

import json

import pytest

from identity.api.openapi import openapi_document
from identity.api.tokens import create_api_token
from identity.models import IdentifierType, IdentifierTypeJob
from merges.models import AuditEntry
from tests.factories import write
from tests.identity.conftest import candidate_of, detect

pytestmark = pytest.mark.django_db


def call(client, method, url, token, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body) if body is not None else None,
        content_type="application/json", headers={"Authorization": f"Bearer {token}"},
    )


def test_the_types_are_listed_with_their_flags(client, viewer):
    token = create_api_token(name="ci", user=viewer)

    response = call(client, "get", "/api/v1/identifier-types", token)

    assert response.status_code == 200
    types = {t["key"]: t for t in response.json()["results"]}
    assert types["loyalty_card"] == {
        "key": "loyalty_card", "label": "Loyalty card", "normaliser": "trim", "priority": 3,
        "unique": True, "single_valued": True, "do_not_merge": True, "can_grant_access": True,
        "matchable": False, "auto_merge": False,
    }


def test_a_preview_answers_the_impact_without_saving(client, viewer, household):
    detect()
    token = create_api_token(name="ci", user=viewer)

    response = call(client, "post", "/api/v1/identifier-types/loyalty_card/preview", token,
                    {"changes": {"do_not_merge": False}})

    assert response.status_code == 200
    body = response.json()
    assert body["becomeBlocked"] == {} and body["becomeUnblocked"] == {}
    assert body["reasonsRemoved"] == {"unique_id_conflict": 1}
    assert body["newPairs"] == 0 and body["autoMerges"] == 0
    assert body["sample"] == [candidate_of(*household).pk]
    assert IdentifierType.objects.get(key="loyalty_card").do_not_merge


def test_a_refused_preview_is_a_409_with_a_sample(client, viewer):
    ann = write({"email": "ann@example.com", "phone": "(212) 555-0101"}, "email").profile_id
    bob = write({"email": "bob@example.com", "phone": "212 555 0101"}, "email").profile_id
    token = create_api_token(name="ci", user=viewer)

    response = call(client, "post", "/api/v1/identifier-types/phone/preview", token,
                    {"changes": {"unique": True}})

    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "values_shared" and body["error"]["field"] == "unique"
    assert body["sample"] == [{"value": "+12125550101", "profiles": [ann, bob]}]
    assert body["count"] == 1


def test_a_senior_applies_a_change_with_a_reason_and_it_is_audited(client, senior):
    token = create_api_token(name="ci", user=senior)

    response = call(client, "patch", "/api/v1/identifier-types/loyalty_card", token,
                    {"changes": {"do_not_merge": False}, "reason": "Settings as code, PR 42"})

    assert response.status_code == 200
    body = response.json()
    assert body["do_not_merge"] is False
    assert [job["kind"] for job in body["jobs"]] == ["recompute"]
    assert IdentifierTypeJob.objects.filter(pk=body["jobs"][0]["id"]).exists()
    entry = AuditEntry.objects.get(action="identifier_type.changed")
    assert entry.actor == senior
    assert entry.payload.data["after"]["reason"] == "Settings as code, PR 42"


def test_a_stewards_token_gets_a_403_naming_the_permission(client, steward):
    token = create_api_token(name="ci", user=steward)

    response = call(client, "patch", "/api/v1/identifier-types/loyalty_card", token,
                    {"changes": {"do_not_merge": False}, "reason": "x"})

    assert response.status_code == 403
    assert "identity.change_identifiertype" in response.json()["error"]["message"]
    assert IdentifierType.objects.get(key="loyalty_card").do_not_merge


def test_an_integration_token_reads_but_does_not_change_types(client):
    token = create_api_token(name="webshop")

    listed = call(client, "get", "/api/v1/identifier-types", token)
    changed = call(client, "patch", "/api/v1/identifier-types/loyalty_card", token,
                   {"changes": {"do_not_merge": False}, "reason": "x"})

    assert listed.status_code == 200
    assert changed.status_code == 403
    assert "acting for no user" in changed.json()["error"]["message"]


def test_a_patch_refused_by_the_data_changes_nothing(client, senior):
    write({"email": ["ann@example.com", "ann@work.example.com"]}, "email")
    token = create_api_token(name="ci", user=senior)

    response = call(client, "patch", "/api/v1/identifier-types/email", token,
                    {"changes": {"single_valued": True}, "reason": "One email each"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "several_values"
    assert not IdentifierType.objects.get(key="email").single_valued
    assert not AuditEntry.objects.filter(action="identifier_type.changed").exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"changes": {"do_not_merge": False}}, "reason"),
    ({"changes": {"colour": "red"}, "reason": "x"}, "colour"),
    ({"changes": {"priority": "high"}, "reason": "x"}, "priority"),
    ({"changes": {}, "reason": "x"}, "changes"),
])
def test_bad_input_is_a_400_naming_the_field(client, senior, body, field):
    token = create_api_token(name="ci", user=senior)

    response = call(client, "patch", "/api/v1/identifier-types/loyalty_card", token, body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_an_unknown_type_is_a_404(client, senior):
    token = create_api_token(name="ci", user=senior)

    response = call(client, "post", "/api/v1/identifier-types/shoe_size/preview", token,
                    {"changes": {"matchable": True}})

    assert response.status_code == 404


def test_the_rows_are_in_the_openapi_document():
    paths = openapi_document()["paths"]

    assert "get" in paths["/api/v1/identifier-types"]
    assert "post" in paths["/api/v1/identifier-types/{key}/preview"]
    assert "patch" in paths["/api/v1/identifier-types/{key}"]
