"""Revoking an API token (`manage.py revoke_api_token NAME`, or the admin's "Revoke" action)
stops it at once; it is then answered 401 saying it was revoked, and the admin still lists it."""

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from identity.models import ApiToken, Identifier
from tests.factories import make_token, post_json

pytestmark = pytest.mark.django_db

UPSERT = "/api/v1/profiles/upsert"


def write(client, token, email):
    return post_json(client, UPSERT, {"record": {"email": email}, "matchKey": "email"}, token)


def assert_revoked(response):
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "token_revoked"
    assert "revoked" in error["message"]
    assert error["field"] == "Authorization"


def test_a_revoked_token_is_told_it_was_revoked_for_writes_and_reads(client, capsys):
    token = make_token("webshop")
    assert write(client, token, "a@example.com").status_code == 201

    call_command("revoke_api_token", "webshop")

    assert "revoked" in capsys.readouterr().out
    assert_revoked(write(client, token, "b@example.com"))
    assert_revoked(client.get("/api/v1/candidates", headers={"Authorization": f"Bearer {token}"}))
    assert not Identifier.objects.filter(value="b@example.com").exists()
    assert ApiToken.objects.get(name="webshop").revoked_at is not None


def test_a_token_revoked_by_another_process_stops_the_next_write(client):
    """Writes take a token this process accepted before without reading it again; the write's
    own transaction checks it still holds."""
    token = make_token("webshop")
    assert write(client, token, "a@example.com").status_code == 201

    ApiToken.objects.filter(name="webshop").update(revoked_at=timezone.now())

    assert_revoked(write(client, token, "b@example.com"))
    assert not Identifier.objects.filter(value="b@example.com").exists()


def test_an_unknown_token_is_not_said_to_be_revoked(client):
    make_token("webshop")

    response = write(client, "mg_not-a-token", "a@example.com")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_revoking_twice_or_an_unknown_name_is_an_error(capsys):
    make_token("webshop")
    call_command("revoke_api_token", "webshop")

    with pytest.raises(CommandError, match="revoked already"):
        call_command("revoke_api_token", "webshop")
    with pytest.raises(CommandError, match="no token named 'till'"):
        call_command("revoke_api_token", "till")


def test_an_admin_revokes_a_token_and_still_sees_it_listed(client, admin):
    token = make_token("till")
    kept = make_token("webshop")
    client.force_login(admin)

    response = client.post("/admin/identity/apitoken/", {
        "action": "revoke", "_selected_action": [ApiToken.objects.get(name="till").pk],
    }, follow=True)

    assert "Revoked: till." in response.content.decode()
    assert_revoked(write(client, token, "a@example.com"))
    assert write(client, kept, "b@example.com").status_code == 201
    listing = client.get("/admin/identity/apitoken/").content.decode()
    assert "till" in listing and "webshop" in listing
    # Deleting would forget the token: a revoked token is told so, a deleted one is unknown.
    assert client.get(
        f"/admin/identity/apitoken/{ApiToken.objects.get(name='till').pk}/delete/"
    ).status_code == 403
