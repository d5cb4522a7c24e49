"""Bad input to the API is a 400 naming the field, never a 500, and writes nothing."""

import pytest

from profiles.models import Profile
from tests.factories import make_token, post_json, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(db):
    return make_token()


def upsert(client, token, body):
    return post_json(client, "/api/v1/profiles/upsert", body, token)


@pytest.mark.parametrize("observed_at", [
    "2026-02-30T10:00:00Z", "2026-13-45T10:00:00Z", "2026-01-01T25:00:00Z",
    "2026-01-01T10:00:00+25:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59Z",
])
def test_an_impossible_or_far_future_observed_at_is_refused(client, token, observed_at):
    response = upsert(client, token, {"record": {"email": "a@example.com"}, "matchKey": "email",
                                      "observedAt": observed_at})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "observedAt"
    assert not Profile.objects.exists()


def test_a_far_future_write_cannot_freeze_a_field(client, token):
    upsert(client, token, {"record": {"email": "a@example.com", "tier": "gold"},
                           "matchKey": "email", "observedAt": "9999-12-31T23:59:59Z"})

    write({"email": "a@example.com", "tier": "silver"}, "email")

    assert Profile.objects.get().attribute("tier") == "silver"


@pytest.mark.parametrize("body, field", [
    ('{"record": {"email": "a@example.com", "city": "\\ud800"}, "matchKey": "email"}',
     "record.city"),
    ('{"record": {"email": "a@example.com"}, "matchKey": "email", "source": "\\ud800"}',
     "source"),
    ('{"record": {"email": "a@example.com"}, "matchKey": "email", "source": "a\\u0000b"}',
     "source"),
    ('{"record": {"customer_id": ' + "9" * 2000 + '}, "matchKey": "customer_id"}',
     "record.customer_id"),
    ('{"record": {"email": "a@example.com", "postcode": "' + "1" * 1000 + '"}, '
     '"matchKey": "email"}', "record.postcode"),
    ("[" * 100_000 + "]" * 100_000, "body"),
])
def test_text_postgresql_cannot_store_or_match_is_refused_naming_the_field(
    client, token, body, field
):
    response = upsert(client, token, body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert not Profile.objects.exists()


@pytest.mark.parametrize("email", ["\u212aen@example.com", "\u0430nn@example.com"])
def test_look_alike_letters_in_an_email_are_refused_by_one_rule(client, token, email):
    write({"email": "ken@example.com"}, "email")

    response = upsert(client, token, {"record": {"email": email}, "matchKey": "email"})

    assert response.status_code == 400
    assert "non-ASCII" in response.json()["error"]["message"]
    assert Profile.objects.count() == 1


def test_a_nul_in_a_lookup_value_is_a_400(client, token):
    response = client.get("/api/v1/profiles/lookup", {"type": "customer_id", "value": "a\x00b"},
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "value"


def test_a_lookup_value_of_broken_utf8_is_not_a_500(client, token):
    response = client.get("/api/v1/profiles/lookup?type=customer_id&value=%ED%A0%80",
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 404  # decoded as a replacement character: no such value
