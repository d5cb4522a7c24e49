"""Each API token may make API_RATE_LIMIT_PER_MINUTE requests a minute, counted in the real
Redis; over it, a JSON 429 naming the limit, with Retry-After. Redis down never stops a write."""

import logging
import time

import pytest
import redis

from identity.api import ratelimit
from identity.api.tokens import token_hash
from identity.models import Identifier
from tests.factories import make_token, post_json

pytestmark = pytest.mark.django_db

UPSERT = "/api/v1/profiles/upsert"


@pytest.fixture(autouse=True)
def one_window():
    """Each test's requests fall in one minute of the limit (never across two)."""
    left = ratelimit.WINDOW_SECONDS - time.time() % ratelimit.WINDOW_SECONDS
    if left < 10:
        time.sleep(left)


def write(client, token, email):
    return post_json(client, UPSERT, {"record": {"email": email}, "matchKey": "email"}, token)


def test_a_token_over_its_limit_is_refused_with_429_naming_the_limit(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    token = make_token()

    answers = [write(client, token, f"p{n}@example.com") for n in range(4)]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "3 requests a minute" in refused.json()["error"]["message"]
    assert refused.json()["limit"] == {"requests": 3, "seconds": 60}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert not Identifier.objects.filter(value="p3@example.com").exists()


def test_reads_count_against_the_same_limit(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    token = make_token()
    headers = {"Authorization": f"Bearer {token}"}

    write(client, token, "jane@example.com")
    read = client.get("/api/v1/profiles/lookup?type=email&value=jane@example.com",
                      headers=headers)
    over = client.get("/api/v1/candidates", headers=headers)

    assert read.status_code == 200
    assert over.status_code == 429


def test_each_token_has_a_limit_of_its_own(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    busy, other = make_token("busy"), make_token("other")

    assert write(client, busy, "a@example.com").status_code == 201
    assert write(client, busy, "b@example.com").status_code == 429
    assert write(client, other, "c@example.com").status_code == 201


def test_a_limit_of_zero_turns_the_limit_off(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    token = make_token()

    assert {write(client, token, f"p{n}@example.com").status_code for n in range(5)} == {201}


def test_writes_go_on_without_a_limit_while_redis_is_down(client, settings, caplog):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    token = make_token()

    with caplog.at_level(logging.WARNING, logger="identity.api.ratelimit"):
        answers = [write(client, token, f"p{n}@example.com").status_code for n in range(3)]

    assert answers == [201, 201, 201]
    assert Identifier.objects.count() == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "identity.api.ratelimit"]
    assert len(warnings) == 1 and "not enforced" in warnings[0]


def test_requests_other_server_processes_counted_are_counted_too(client, settings):
    """Each process adds its count to Redis at least every SYNC_SECONDS, and asks Redis on
    every request from half the limit on."""
    settings.API_RATE_LIMIT_PER_MINUTE = 10
    token = make_token()
    assert write(client, token, "a@example.com").status_code == 201
    window = int(time.time() // ratelimit.WINDOW_SECONDS)
    others = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{ratelimit.KEY_PREFIX}:{token_hash(token)[:32]}:{window}"
    others.incrby(key, 9)  # the other processes' requests: 10 of 10 in all

    time.sleep(ratelimit.SYNC_SECONDS)
    refused = write(client, token, "b@example.com")

    assert refused.status_code == 429
    assert int(others.get(key)) == 11
