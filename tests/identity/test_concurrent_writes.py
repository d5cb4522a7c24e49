"""SPEC 3.5: racing writers end in one profile, and none of them fails.

Each writer is a real HTTP request to gunicorn (threads, each with its own database
connection), all released at once by a barrier.
"""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from identity.models import DuplicateCandidate, IdempotencyRecord, Identifier
from profiles.models import Profile
from tests.conftest import gunicorn, server_env
from tests.factories import make_token

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 50


@pytest.fixture
def api_server():
    with gunicorn(server_env(), "--workers", "2", "--threads", "25",
                  "--worker-class", "gthread") as url:
        yield url


def race(server, token, bodies):
    """POST every body at the same moment; returns (status, json) per body."""
    barrier = threading.Barrier(len(bodies))

    def send(body):
        request = urllib.request.Request(
            f"{server}/api/v1/profiles/upsert",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        barrier.wait(timeout=30)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_fifty_writers_on_one_new_email_make_one_profile(api_server):
    token = make_token()
    bodies = [
        {"record": {"email": " Racer@Example.com" if i % 2 else "racer@example.com",
                    "visits": i}, "matchKey": "email"}
        for i in range(WRITERS)
    ]

    results = race(api_server, token, bodies)

    assert {status for status, _ in results} <= {200, 201}
    assert [status for status, _ in results].count(201) == 1
    assert len({body["profileId"] for _, body in results}) == 1
    assert Profile.objects.count() == 1
    assert Identifier.objects.filter(value="racer@example.com").count() == 1


def test_fifty_writers_on_one_new_customer_id_make_one_profile(api_server):
    token = make_token()
    bodies = [{"record": {"customer_id": "C-100"}, "matchKey": "customer_id"}] * WRITERS

    results = race(api_server, token, bodies)

    assert {status for status, _ in results} <= {200, 201}
    assert Profile.objects.count() == 1


def test_id_only_and_email_only_writers_racing_make_one_profile_each_and_no_errors(api_server):
    token = make_token()
    bodies = [
        {"record": {"customer_id": "C-7"}, "matchKey": "customer_id"} if i % 2 else
        {"record": {"email": "seven@example.com"}, "matchKey": "email"}
        for i in range(WRITERS)
    ]

    results = race(api_server, token, bodies)

    assert {status for status, _ in results} <= {200, 201}
    assert Profile.objects.count() == 2
    assert Identifier.objects.count() == 2


def test_writers_racing_with_id_email_and_phone_of_one_person_end_in_one_profile(api_server):
    token = make_token()
    shapes = [
        ({"email": "ann@example.com", "customer_id": "C-1"}, "email"),
        ({"email": "ann@example.com", "phone": "(212) 555-0142"}, "email"),
        ({"customer_id": "C-1", "email": "ann@example.com", "phone": "+12125550142"},
         "customer_id"),
        ({"email": "ANN@example.com ", "first_name": "Ann"}, "email"),
    ]
    bodies = [
        {"record": shapes[i % len(shapes)][0], "matchKey": shapes[i % len(shapes)][1]}
        for i in range(WRITERS)
    ]

    results = race(api_server, token, bodies)

    assert {status for status, _ in results} <= {200, 201}
    assert Profile.objects.count() == 1
    profile = Profile.objects.get()
    assert sorted(profile.identifiers.values_list("type__key", "value")) == [
        ("customer_id", "C-1"), ("email", "ann@example.com"), ("phone", "+12125550142"),
    ]
    assert not DuplicateCandidate.objects.exists()


def test_writers_racing_with_one_idempotency_key_write_once(api_server):
    # Threads of one gunicorn process share transactions (group commit); the key still holds.
    token = make_token()
    body = {"record": {"email": "once@example.com", "visits": 1}, "matchKey": "email"}
    barrier = threading.Barrier(WRITERS)

    def send(_):
        request = urllib.request.Request(
            f"{api_server}/api/v1/profiles/upsert", data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "Idempotency-Key": "order-1"},
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(send, range(WRITERS)))

    assert {status for status, _ in results} <= {201, 409}
    answers = [answer for status, answer in results if status == 201]
    assert answers and all(answer == answers[0] for answer in answers)
    assert Profile.objects.count() == 1
    assert IdempotencyRecord.objects.get().response_body == answers[0]


def test_writers_race_the_same_behind_a_pooler_without_prepared_statements():
    # DATABASE_PREPARED_STATEMENTS=false: every statement is sent whole, as a pooler in
    # transaction mode needs; the race ends the same way.
    token = make_token()
    env = server_env(DATABASE_PREPARED_STATEMENTS="false")
    bodies = [{"record": {"email": "pooled@example.com", "n": i}, "matchKey": "email"}
              for i in range(20)]
    with gunicorn(env, "--workers", "2", "--threads", "10", "--worker-class", "gthread") as url:
        results = race(url, token, bodies)
        again = race(url, token, bodies)

    assert [status for status, _ in results + again].count(201) == 1
    assert {status for status, _ in results + again} == {200, 201}
    assert Profile.objects.count() == 1


def test_writers_adding_a_household_phone_to_a_known_customer_add_it_once(api_server):
    token = make_token()
    race(api_server, token, [{"record": {"email": "ann@example.com"}, "matchKey": "email"}])
    spellings = ["(212) 555-0142", "+1 212 555 0142", "212.555.0142", "2125550142"]
    bodies = [
        {"record": {"email": "ann@example.com", "phone": spellings[i % len(spellings)],
                    "visits": i}, "matchKey": "email"}
        for i in range(WRITERS)
    ]

    results = race(api_server, token, bodies)

    assert {status for status, _ in results} == {200}
    profile = Profile.objects.get()
    assert sorted(profile.identifiers.values_list("type__key", "value")) == [
        ("email", "ann@example.com"), ("phone", "+12125550142"),
    ]
