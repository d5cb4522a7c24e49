import pytest
from django.urls import reverse

PAGES = [
    "/",
    "/queue/",
    "/profiles/",
    "/merges/",
    "/audit/",
    "/settings/identifier-types/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_an_anonymous_visitor_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={path}"


@pytest.mark.django_db
def test_admin_sends_an_anonymous_visitor_to_its_login(client):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert "login" in response.url


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_viewer_reads_every_page(client, viewer, path):
    client.force_login(viewer)

    response = client.get(path)

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_user_without_a_role_is_refused_with_the_missing_permission_named(client, nobody, path):
    client.force_login(nobody)

    response = client.get(path)

    assert response.status_code == 403
    assert "This needs the permission: Can view" in response.content.decode()


@pytest.mark.django_db
def test_wrong_password_is_refused_on_the_login_page(client, viewer):
    response = client.post(
        "/accounts/login/", {"username": "viewer", "password": "not the password"}
    )

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session
