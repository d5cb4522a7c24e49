import pytest

from tests.conftest import TEST_REDIS_DB, redis_url_with_db

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_says_ok_when_database_redis_and_a_worker_answer(client, celery_worker):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": True, "redis": True, "celery": True}
    assert body["audit"] == {"lastChecked": None, "lastResult": None, "lastPassed": None}


def test_healthz_is_503_when_redis_is_unreachable(client, settings, celery_worker):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": True, "redis": False, "celery": False}


def test_healthz_is_503_when_no_worker_listens(client, settings, celery_worker):
    # A Redis database no worker consumes: Redis answers, no worker does.
    settings.CELERY_BROKER_URL = redis_url_with_db(settings.REDIS_URL, (TEST_REDIS_DB + 8) % 16)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "redis": True, "celery": False}


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")

    assert response.status_code in (200, 503)
    assert "checks" in response.json()
