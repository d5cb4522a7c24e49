"""While the task queue's broker (Redis) does not answer, every console page says the queue is
paused and that the waiting work runs once it is back."""

import pytest

pytestmark = pytest.mark.django_db

PAUSED = "The work queue is paused."


def test_the_console_says_the_queue_is_paused_while_redis_is_down(client, steward, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client.force_login(steward)

    for page in ("/", "/queue/", "/merges/"):
        body = client.get(page).content.decode()
        assert PAUSED in body, page
        assert "confirmed merges wait as queued" in body


def test_no_banner_while_redis_answers(client, steward):
    client.force_login(steward)

    assert PAUSED not in client.get("/queue/").content.decode()


def test_the_login_page_says_nothing_of_the_queue(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    assert PAUSED not in client.get("/accounts/login/").content.decode()
