"""Redis stopped in the middle of a burst of API writes: every write is answered 2xx, a merge
requested meanwhile waits queued, and once Redis is back every pair the writes made becomes a
candidate and the merge runs, once. The product runs as in production: gunicorn, a Celery worker
and beat, on a Redis of the test's own."""

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from identity.api.tokens import create_api_token
from identity.models import CandidateMember, DuplicateCandidate, PendingDetection
from merges.models import AuditEntry, MergeJob
from profiles.models import Profile
from tests.conftest import gunicorn, server_env, worker_process
from tests.factories import make_token, wait_for, write
from tests.ops.servers import beat_process, redis_server

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = 60  # 120 writes: two people sharing a phone per pair


def post(url, body, token):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def pair_of(profile_ids):
    return frozenset(profile_ids)


def test_writes_survive_a_redis_outage_and_their_detection_runs_when_it_is_back(
    tmp_path, steward
):
    lee = write({"email": "lee@example.com"}, "email").profile_id
    lea = write({"email": "lea@example.com", "first_name": "Lea"}, "email").profile_id
    writer, merger = make_token(), create_api_token(name="console", user=steward)
    writes = [{"record": {"email": f"{who}{n}@example.com", "phone": f"+1212555{n:04}"},
               "matchKey": "email"} for n in range(PAIRS) for who in ("ann", "bob")]
    answered = []
    with redis_server(tmp_path) as redis:
        env = server_env(REDIS_URL=redis.url, DETECT_ON_WRITE="true", AUTOMATIC_MERGES="false",
                         RECOVERY_SECONDS="1")
        with gunicorn(env, "--workers", "2", "--threads", "4") as base, \
                worker_process(**env), beat_process(tmp_path, **env):

            def outage():
                assert wait_for(lambda: len(answered) >= len(writes) // 4, every=0.01)
                redis.stop()
                assert wait_for(lambda: len(answered) >= 3 * len(writes) // 4, every=0.01)
                status, body = post(f"{base}/api/v1/merges", {"profileIds": [lee, lea]}, merger)
                answered.append(("merge", status, body))
                redis.start()

            in_the_middle = threading.Thread(target=outage)
            in_the_middle.start()
            with ThreadPoolExecutor(8) as pool:
                for status, body in pool.map(
                    lambda body: post(f"{base}/api/v1/profiles/upsert", body, writer), writes
                ):
                    answered.append(("write", status, body))
                    time.sleep(0.01)  # a burst, not all at once: the outage falls in the middle
            in_the_middle.join()

            statuses = [status for _, status, _ in answered]
            assert statuses.count(201) == len(writes), statuses
            ((_, merge_status, merge),) = [a for a in answered if a[0] == "merge"]
            assert merge_status == 202, merge
            profiles = [body["profileId"] for kind, _, body in answered if kind == "write"]
            assert len(set(profiles)) == len(writes)  # no write lost, none twice

            # Once Redis is back: the beat drains what the writes left, and resumes the merge.
            assert wait_for(lambda: MergeJob.objects.get().status == "succeeded", seconds=180)
            assert wait_for(lambda: DuplicateCandidate.objects.count() >= PAIRS
                            and not PendingDetection.objects.exists(), seconds=180)

    by_email = dict(Profile.objects.filter(identifiers__type__key="email")
                    .values_list("identifiers__value", "pk"))
    candidates = {}
    for candidate_id, profile_id in CandidateMember.objects.values_list("candidate_id",
                                                                          "profile_id"):
        candidates.setdefault(candidate_id, set()).add(profile_id)
    expected = {pair_of([by_email[f"ann{n}@example.com"], by_email[f"bob{n}@example.com"]])
                for n in range(PAIRS)}
    assert expected <= {pair_of(members) for members in candidates.values()}
    assert Profile.objects.get(pk=lea).merged_into_id == lee
    assert AuditEntry.objects.filter(action="merge.succeeded").count() == 1
