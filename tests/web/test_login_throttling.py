"""Login throttling (django-axes): repeated wrong passwords lock the login out."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def attempt(client, password, username="steward"):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, steward, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, with its error
    assert attempt(client, "wrong").status_code == 429  # the last one allowed locks it

    locked = attempt(client, PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(client, steward, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")

    assert attempt(client, PASSWORD).status_code == 302


def test_an_admin_unlocks_a_locked_out_user(client, steward, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong")

    call_command("axes_reset_username", "steward")

    assert not AccessAttempt.objects.exists()
    assert attempt(client, PASSWORD).status_code == 302


def test_a_session_ends_after_the_idle_time(client, steward, settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60 == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST  # each request extends it
