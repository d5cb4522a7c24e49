"""The Django admin lists profiles, identifiers, identifier types, candidates and tokens for
superusers; read-only where a change must go through an audited service (tombstones above all)."""

import pytest
from django.utils import timezone

from identity.api.tokens import create_api_token
from identity.models import ApiToken
from merges.models import AuditEntry
from profiles.models import Profile
from tests.factories import write
from tests.identity.conftest import candidate_of, detect

pytestmark = pytest.mark.django_db

LISTS = [
    "/admin/profiles/profile/", "/admin/profiles/profileevent/",
    "/admin/identity/identifier/", "/admin/identity/identifiertype/",
    "/admin/identity/duplicatecandidate/", "/admin/identity/apitoken/",
    "/admin/identity/identifiertypejob/",
]


@pytest.mark.parametrize("url", LISTS)
def test_a_superuser_sees_each_list(client, admin, household, url):
    detect()
    client.force_login(admin)

    response = client.get(url)

    assert response.status_code == 200


def test_a_tombstone_is_shown_but_cannot_be_changed_or_deleted(client, admin):
    survivor = write({"email": "ann@example.com"}, "email").profile_id
    merged = write({"email": "ann.old@example.com"}, "email").profile_id
    Profile.objects.filter(pk=merged).update(status="merged", merged_into_id=survivor,
                                             merged_at=timezone.now())
    client.force_login(admin)

    page = client.get(f"/admin/profiles/profile/{merged}/change/")
    posted = client.post(f"/admin/profiles/profile/{merged}/change/", {"status": "active"})
    deleted = client.post(f"/admin/profiles/profile/{merged}/delete/", {"post": "yes"})

    assert page.status_code == 200 and "Save" not in page.content.decode()
    assert posted.status_code == 403 and deleted.status_code == 403
    assert Profile.objects.get(pk=merged).status == "merged"


def test_identifier_types_change_on_the_settings_page_not_in_the_admin(client, admin):
    client.force_login(admin)

    page = client.get("/admin/identity/identifiertype/")
    posted = client.post("/admin/identity/identifiertype/add/", {"key": "x", "label": "X"})

    assert 'href="/settings/identifier-types/loyalty_card/"' in page.content.decode()
    assert posted.status_code == 403


def test_a_candidate_shows_its_profiles(client, admin, household):
    detect()
    client.force_login(admin)

    page = client.get(f"/admin/identity/duplicatecandidate/{candidate_of(*household).pk}/change/")

    assert page.status_code == 200 and "Candidate member" in page.content.decode()


def test_a_token_shows_its_user_and_revoking_it_is_audited(client, admin, steward):
    create_api_token(name="ci", user=steward)
    token = ApiToken.objects.get(name="ci")
    client.force_login(admin)

    listed = client.get("/admin/identity/apitoken/")
    revoked = client.post("/admin/identity/apitoken/",
                          {"action": "revoke", "_selected_action": [token.pk]})

    assert "steward" in listed.content.decode()
    assert revoked.status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    entry = AuditEntry.objects.get(action="api_token.revoked")
    assert entry.actor == admin and entry.targets == {"api_token": "ci", "user": steward.pk}


def test_a_user_who_is_not_a_superuser_does_not_reach_the_admin(client, senior):
    client.force_login(senior)

    response = client.get("/admin/identity/identifiertype/")

    assert response.status_code == 302  # to the admin's login
