"""Pages and API answers that show personal data are never kept by a cache."""

import pytest

from tests.factories import make_token, write

pytestmark = pytest.mark.django_db


def test_a_profile_page_is_not_stored(client, viewer):
    profile = write({"email": "jane@example.com", "first_name": "Jane"}, "email").profile_id
    client.force_login(viewer)

    response = client.get(f"/profiles/{profile}/")

    assert "no-store" in response["Cache-Control"]


def test_an_api_answer_is_not_stored(client):
    profile = write({"email": "jane@example.com"}, "email").profile_id

    response = client.get(f"/api/v1/profiles/{profile}",
                          headers={"Authorization": f"Bearer {make_token()}"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]

