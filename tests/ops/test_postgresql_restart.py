"""PostgreSQL restarted under a burst of API writes: while it is down the API answers a JSON 503
with Retry-After (never a 500 or an HTML page); a client that retries as told gets every write
in once it is back, with nothing lost and nothing twice. The product runs on a PostgreSQL
cluster of the test's own (gunicorn, as in production)."""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.conftest import ROOT, gunicorn, server_env
from tests.factories import wait_for
from tests.ops.servers import postgres_server, redis_server

WRITES = 150


def post(url, body, token, key):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_writes_through_a_postgresql_restart_get_503_then_all_land_once(tmp_path):
    answers, refusals = [], []

    def write_until_taken(url, body, token):
        """A client that retries a 503 after its Retry-After, with the same Idempotency-Key."""
        key = str(uuid.uuid4())
        while True:
            status, headers, text = post(url, body, token, key)
            if status != 503:
                answers.append((status, text))
                return
            refusals.append((headers.get("Content-Type"), headers.get("Retry-After"), text))
            time.sleep(0.2)  # Retry-After says 5 s; a test has no time for that

    with postgres_server() as database, redis_server(tmp_path) as redis:
        env = server_env(DATABASE_URL=database.url, REDIS_URL=redis.url,
                         DETECT_ON_WRITE="true")
        database.create_database(env)
        token = subprocess.run(
            [sys.executable, "manage.py", "create_api_token", "webshop"], cwd=ROOT,
            env={**env}, check=True, capture_output=True, text=True,
        ).stdout.strip()
        writes = [{"record": {"email": f"person{n}@example.com", "first_name": f"P{n}"},
                   "matchKey": "email"} for n in range(WRITES)]
        with gunicorn(env, "--workers", "2", "--threads", "4") as base:

            def restart():
                assert wait_for(lambda: len(answers) >= WRITES // 5, every=0.01)
                database.stop("fast")
                assert wait_for(lambda: refusals, every=0.05)
                time.sleep(1)
                database.start()

            in_the_middle = threading.Thread(target=restart)
            in_the_middle.start()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(
                    lambda body: write_until_taken(f"{base}/api/v1/profiles/upsert", body, token),
                    writes,
                ))
            in_the_middle.join()

        with psycopg.connect(database.url) as conn:
            emails = [row[0] for row in conn.execute(
                "SELECT value FROM identity_identifier WHERE value LIKE 'person%%'")]
            (pending,) = conn.execute(
                "SELECT count(DISTINCT profile_id) FROM identity_pendingdetection").fetchone()

    assert refusals, "the restart was to fall in the middle of the writes"
    for content_type, retry_after, text in refusals:
        assert content_type == "application/json"
        assert retry_after and int(retry_after) > 0
        assert json.loads(text)["error"]["code"] == "unavailable"
    assert sorted(status for status, _ in answers) == [201] * WRITES, answers
    assert sorted(emails) == sorted(f"person{n}@example.com" for n in range(WRITES))
    assert pending == WRITES  # each write's detection waits for a worker: none was lost
