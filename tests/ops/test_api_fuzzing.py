"""Schemathesis, driven by the served OpenAPI document, against a live production-mode server
(granian, DEBUG off): no generated input, valid by the document or not, gets a 5xx, and every
refusal is the API's JSON error, naming the field at fault when the input is at fault.

Bounded in time: EXAMPLES inputs per operation and mode (more for writes), derandomised, so a
run repeats.
"""

import secrets

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from identity.api.tokens import create_api_token
from merges import roles
from merges.models import MergeJob
from tests.conftest import make_user, server_env
from tests.factories import make_profile, post_json
from tests.ops.test_production_serving import granian

EXAMPLES = 20
# The write path, where most of the input handling is, gets more.
WRITE_EXAMPLES = {"POST /api/v1/profiles/upsert": 50, "POST /api/v1/profiles/batch": 12}
# Refusals of the input itself: they name the field, parameter or header at fault.
INPUT_REFUSALS = {400, 401, 413, 422}


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    env = server_env(
        SECRET_KEY=secrets.token_urlsafe(50),
        # A Redis where nothing listens: nothing this server queues reaches a test worker (its
        # data is flushed after each run), and writes, merges and type changes are fuzzed with
        # the broker down, as they must answer then too.
        REDIS_URL="redis://127.0.0.1:9/0",
    )
    env.pop("DEBUG", None)
    with django_db_blocker.unblock(), granian(env) as base:
        yield base


@pytest.fixture
def http(transactional_db):
    """A session with the token of a senior steward: every operation is open to it."""
    senior = make_user("senior", roles.SENIOR_STEWARD)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {create_api_token(name='fuzz', user=senior)}"
        yield session


def refusal_problem(response):
    """What is wrong with the answer to a generated request, or None."""
    if response.status_code >= 500:
        return f"a server error {response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    if response.headers.get("content-type", [""])[0].split(";")[0] != "application/json":
        return f"a {response.status_code} that is not JSON: {response.text[:300]}"
    error = response.json().get("error") or {}
    if not (error.get("code") and error.get("message")):
        return f"a {response.status_code} without the error's code and message: {error}"
    if response.status_code in INPUT_REFUSALS and not error.get("field"):
        return f"a {response.status_code} naming no field: {error}"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_server_error_and_every_refusal_says_what_is_wrong(server, http, mode):
    """Positive: inputs the document says are valid; negative: inputs it says are not."""
    schema = schemathesis.openapi.from_url(f"{server}/api/v1/openapi.json")
    # The token is the session's: generated Authorization headers would only meet the 401.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:
        try:
            fuzz(operation, mode, http)
        except Unsatisfiable:  # negative: an operation without parameters has no invalid input
            assert mode == GenerationMode.NEGATIVE


def fuzz(operation, mode, http):
    @settings(max_examples=WRITE_EXAMPLES.get(operation.label, EXAMPLES), derandomize=True,
              deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        response = case.call(session=http, timeout=30)
        problem = refusal_problem(response)
        assert problem is None, f"{operation.label}: {problem}\n{case.as_curl_command()}"

    call()


def test_a_merge_naming_an_unknown_candidate_is_a_404_naming_it(client, db):
    """Found by the fuzzing above: it was a 500 (a foreign key broken at commit)."""
    senior = make_user("senior", roles.SENIOR_STEWARD)
    token = create_api_token(name="crm", user=senior)
    ids = [make_profile(email=f"p{n}@example.com").pk for n in range(2)]

    response = post_json(client, "/api/v1/merges", {"profileIds": ids, "candidateId": 999999},
                         token)

    assert response.status_code == 404
    assert response.json()["error"]["field"] == "candidateId"
    assert not MergeJob.objects.exists()
