"""The HTTP API of SPEC section 10, spoken to over HTTP (Django's test client)."""

import json
import re
import threading

import psycopg
import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from identity.locks import lock_key
from identity.models import (
    ApiToken,
    DuplicateCandidate,
    IdempotencyRecord,
    Identifier,
    IdentifierType,
)
from profiles.models import Profile
from tests.conftest import make_user
from tests.factories import make_token, post_json

pytestmark = pytest.mark.django_db

UPSERT = "/api/v1/profiles/upsert"


@pytest.fixture
def token():
    return make_token()


def upsert(client, token, body, **headers):
    return post_json(client, UPSERT, body, token, **headers)


def test_a_new_person_is_created_with_201_and_found_again_with_200(client, token):
    body = {"record": {"email": "Jane@Example.com ", "first_name": "Jane"}, "matchKey": "email"}

    created = upsert(client, token, body)
    again = upsert(client, token, body)

    assert created.status_code == 201
    assert created.json() == {"profileId": created.json()["profileId"], "created": True,
                              "conflicts": []}
    assert again.status_code == 200
    assert again.json()["profileId"] == created.json()["profileId"]
    assert again.json()["created"] is False


def test_a_collision_is_reported_in_the_response(client, token):
    by_id = upsert(client, token, {"record": {"customer_id": "C1"}, "matchKey": "customer_id"})
    by_email = upsert(client, token, {"record": {"email": "j@example.com"}, "matchKey": "email"})

    linking = upsert(
        client, token,
        {"record": {"customer_id": "C1", "email": "j@example.com"}, "matchKey": "customer_id"},
    )

    assert linking.status_code == 200
    (conflict,) = linking.json()["conflicts"]
    candidate = DuplicateCandidate.objects.get()
    assert conflict == {
        "kind": "collision", "type": "email", "value": "j@example.com",
        "heldBy": by_email.json()["profileId"], "candidateId": candidate.pk,
    }
    assert linking.json()["profileId"] == by_id.json()["profileId"]


def test_the_source_defaults_to_the_tokens_name(client, token):
    upsert(client, token, {"record": {"email": "j@example.com"}, "matchKey": "email"})

    assert Identifier.objects.get().source == "webshop"


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ("{not json", "body", "not valid JSON"),
        ({"record": {"email": "j@example.com"}, "matchKey": "favourite_colour"}, "matchKey",
         "not an identifier type"),
        ({"record": {"email": "j@example.com"}}, "matchKey", "required"),
        ({"record": {"phone": "+12125551234"}, "matchKey": "phone"}, "matchKey", "not a unique"),
        ({"record": {"email": "jane(at)example.com"}, "matchKey": "email"}, "record.email",
         "not a valid email"),
        ({"record": {"email": "j@example.com", "phone": "0000000000"}, "matchKey": "email"},
         "record.phone", "not a valid phone"),
        ({"record": {"email": "j@example.com", "customer_id": "C1"}, "matchKey": "email",
          "accessContacts": ["customer_id"]}, "accessContacts", "cannot grant access"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written(
    client, token, body, field, fragment
):
    response = upsert(client, token, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert fragment in error["message"]
    assert error["code"]
    assert not Profile.objects.exists() and not Identifier.objects.exists()


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "])
def test_without_a_valid_token_the_api_answers_401(client, authorization):
    make_token()
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post(
        UPSERT, data=json.dumps({"record": {"email": "j@example.com"}, "matchKey": "email"}),
        content_type="application/json", headers=headers,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Profile.objects.exists()


def test_a_deleted_token_stops_working_at_once_for_writes(client, token):
    first = upsert(client, token, {"record": {"email": "a@example.com"}, "matchKey": "email"})
    ApiToken.objects.all().delete()

    again = upsert(client, token, {"record": {"email": "b@example.com"}, "matchKey": "email"})

    assert first.status_code == 201
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "unauthorized"
    assert list(Identifier.objects.values_list("value", flat=True)) == ["a@example.com"]


@pytest.mark.parametrize("idempotency_key", [None, "order-1"])
def test_a_type_added_between_two_writes_is_an_identifier_for_the_second(
    client, token, idempotency_key
):
    upsert(client, token, {"record": {"email": "a@example.com"}, "matchKey": "email"})
    IdentifierType.objects.create(key="crm_id", label="CRM ID", unique=True, priority=6)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}

    response = upsert(
        client, token, {"record": {"email": "b@example.com", "crm_id": "A-1"},
                        "matchKey": "crm_id"}, **headers,
    )

    assert response.status_code == 201
    profile = Profile.objects.get(pk=response.json()["profileId"])
    assert sorted(profile.identifiers.values_list("type__key", "value")) == [
        ("crm_id", "A-1"), ("email", "b@example.com"),
    ]
    assert "crm_id" not in profile.attributes


def test_tokens_are_stored_hashed(token):
    stored = ApiToken.objects.get()
    assert token not in stored.token_hash
    assert len(stored.token_hash) == 64


def test_a_body_over_one_megabyte_is_refused_with_413(client, token):
    body = {"record": {"email": "j@example.com", "note": "x" * (1024 * 1024)}, "matchKey": "email"}

    response = upsert(client, token, body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not Profile.objects.exists()


def test_only_post_writes(client, token):
    response = client.get(UPSERT, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"


# Idempotency-Key (SPEC 3.6)


def test_a_repeated_idempotency_key_with_the_same_body_replays_and_writes_nothing(client, token):
    body = {"record": {"email": "j@example.com", "tier": "gold"}, "matchKey": "email"}
    first = upsert(client, token, body, **{"Idempotency-Key": "order-1"})
    Profile.objects.update(attributes={})  # a change the replay must not undo

    replay = upsert(client, token, body, **{"Idempotency-Key": "order-1"})

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert Profile.objects.get().attributes == {}
    assert IdempotencyRecord.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_refused_with_422(client, token):
    upsert(client, token, {"record": {"email": "a@example.com"}, "matchKey": "email"},
           **{"Idempotency-Key": "k"})

    other = upsert(client, token, {"record": {"email": "b@example.com"}, "matchKey": "email"},
                   **{"Idempotency-Key": "k"})

    assert other.status_code == 422
    assert other.json()["error"]["field"] == "Idempotency-Key"
    assert not Identifier.objects.filter(value="b@example.com").exists()


def test_an_idempotency_key_still_in_flight_is_refused_with_409(client, token):
    api_token = ApiToken.objects.get()
    in_flight = threading.Event()
    release = threading.Event()

    def request_still_running():
        # The lock a running request with this key holds, taken on a connection of its own.
        settings_dict = connection.settings_dict
        with psycopg.connect(
            host=settings_dict["HOST"], port=settings_dict["PORT"], user=settings_dict["USER"],
            password=settings_dict["PASSWORD"] or None, dbname=settings_dict["NAME"],
        ) as other, other.transaction():
            other.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                [lock_key(f"idempotency:{api_token.pk}", "busy-key")],
            )
            in_flight.set()
            release.wait(10)

    thread = threading.Thread(target=request_still_running)
    thread.start()
    try:
        assert in_flight.wait(10)
        response = upsert(client, token, {"record": {"email": "a@example.com"},
                                          "matchKey": "email"}, **{"Idempotency-Key": "busy-key"})
    finally:
        release.set()
        thread.join()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_flight"
    assert not Profile.objects.exists()


def test_idempotency_keys_are_per_token(client, token):
    other_token = make_token("pos")
    body = {"record": {"email": "a@example.com"}, "matchKey": "email"}

    upsert(client, token, body, **{"Idempotency-Key": "k"})
    second = upsert(client, other_token,
                    {"record": {"email": "b@example.com"}, "matchKey": "email"},
                    **{"Idempotency-Key": "k"})

    assert second.status_code == 201


# Reading profiles


def test_get_profile_shows_identifiers_and_attributes(client, token):
    created = upsert(client, token, {
        "record": {"email": " Jane@Example.com", "phone": "(212) 555-1234", "first_name": "Jane"},
        "matchKey": "email", "accessContacts": ["email"],
        "observedAt": "2026-03-01T10:00:00Z",
    }).json()

    response = client.get(f"/api/v1/profiles/{created['profileId']}",
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    profile = response.json()
    assert profile["status"] == "active"
    assert profile["attributes"] == {
        "first_name": {"value": "Jane", "observedAt": "2026-03-01T10:00:00.000000Z"}
    }
    email, phone = profile["identifiers"]
    assert (email["type"], email["value"], email["rawValue"], email["grantsAccess"]) == (
        "email", "jane@example.com", " Jane@Example.com", True
    )
    assert (phone["type"], phone["value"], phone["grantsAccess"]) == (
        "phone", "+12125551234", False
    )


def test_a_merged_profiles_id_redirects_308_to_its_survivor(client, token):
    survivor = Profile.objects.create()
    merged = Profile.objects.create(status=Profile.Status.MERGED, merged_into=survivor)

    response = client.get(f"/api/v1/profiles/{merged.pk}",
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 308
    assert response["Location"] == f"/api/v1/profiles/{survivor.pk}"


def test_an_unknown_profile_is_a_404(client, token):
    response = client.get("/api/v1/profiles/999999", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_path_under_the_api_that_is_no_endpoint_is_a_json_404(client, token):
    response = client.get("/api/v1/profile/1", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found", "message": "there is no API endpoint /api/v1/profile/1",
        "field": None,
    }


def test_api_answers_set_no_cookies_and_keep_the_security_headers(client, token):
    # A steward signed in to the pages in the same browser: the API ignores the session.
    client.force_login(make_user("steward"))

    response = upsert(client, token, {"record": {"email": "c@example.com"}, "matchKey": "email"})

    assert response.status_code == 201
    assert response.cookies == {}
    assert response["X-Content-Type-Options"] == "nosniff"


def test_lookup_normalises_the_value_as_writes_do(client, token):
    created = upsert(client, token, {"record": {"email": "jane@example.com",
                                                "phone": "+1 212 555 1234"},
                                     "matchKey": "email"}).json()
    auth = {"Authorization": f"Bearer {token}"}

    by_email = client.get("/api/v1/profiles/lookup",
                          {"type": "email", "value": " JANE@example.com "}, headers=auth)
    by_phone = client.get("/api/v1/profiles/lookup",
                          {"type": "phone", "value": "(212) 555-1234"}, headers=auth)
    missing = client.get("/api/v1/profiles/lookup",
                         {"type": "email", "value": "nobody@example.com"}, headers=auth)
    invalid = client.get("/api/v1/profiles/lookup",
                         {"type": "email", "value": "nobody"}, headers=auth)
    unknown = client.get("/api/v1/profiles/lookup",
                         {"type": "shoe_size", "value": "9"}, headers=auth)

    assert by_email.json()["id"] == by_phone.json()["id"] == created["profileId"]
    assert missing.status_code == 404
    assert (invalid.status_code, invalid.json()["error"]["field"]) == (400, "value")
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "type")


# The OpenAPI document


def api_routes():
    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield "/" + prefix + str(pattern.pattern)

    return {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route in walk(get_resolver().url_patterns, "")
        if route.startswith("/api/")
    }


def test_every_api_route_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert api_routes() == set(document["paths"])
