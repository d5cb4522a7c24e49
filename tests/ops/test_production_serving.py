"""Production serving: granian (README's command) or gunicorn + WhiteNoise, DEBUG off,
`check --deploy` clean."""

import contextlib
import json
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from identity.models import Identifier
from tests.conftest import ROOT, free_port, gunicorn, server_env
from tests.factories import make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_env(tmp_path):
    env = server_env(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="mergeguard.example.com,127.0.0.1",
        SECURE_HSTS_PRELOAD="true",
        SECURE_PROXY_SSL="true",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    for development_only in ("DEBUG", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(development_only, None)
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def fetch(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:  # headers: looked up whatever their case
        return error.code, error.headers, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_deploy_check_is_clean_with_production_settings(production_env):
    result = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_without_a_secret_key_refuses_to_start(production_env):
    del production_env["SECRET_KEY"]

    result = manage(production_env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# README, Production serving.
GRANIAN_WORKERS = 2
GRANIAN_OPTIONS = ["--workers", str(GRANIAN_WORKERS), "--blocking-threads", "4",
                   "--respawn-failed-workers", "--workers-kill-timeout", "30"]


@contextlib.contextmanager
def granian(env):
    """Granian serving the project's WSGI application on a free port as README says
    (Production serving); yields its base URL once every worker has started (a worker still
    starting when granian is told to stop would hold it up until --workers-kill-timeout)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
             "--port", str(port), *GRANIAN_OPTIONS, "config.wsgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                log.seek(0)
                if log.read().count(b"Started worker") >= GRANIAN_WORKERS:
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"granian did not start:\n{log.read().decode()}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=40)


SERVERS = {
    "granian": granian,
    "gunicorn": lambda env: gunicorn(env, "--workers", "2"),
}


@pytest.mark.parametrize("server", SERVERS)
def test_the_server_serves_pages_and_hashed_static_files(production_env, server):
    assert manage(production_env, "collectstatic", "--noinput").returncode == 0
    https = {"X-Forwarded-Proto": "https"}
    with SERVERS[server](production_env) as base:
        status, headers, _ = fetch(f"{base}/accounts/login/")
        assert status == 301
        assert headers["Location"] == base.replace("http:", "https:") + "/accounts/login/"

        status, headers, page = fetch(f"{base}/accounts/login/", **https)
        assert status == 200
        assert "max-age=31536000" in headers["Strict-Transport-Security"]
        assert headers["X-Frame-Options"] == "DENY"
        htmx = re.search(r'src="(/static/vendor/htmx/htmx\.min\.[0-9a-f]{12}\.js)"', page)
        assert htmx, "the login page links htmx by its hashed name"

        status, headers, script = fetch(f"{base}{htmx.group(1)}", **https)
        assert status == 200
        assert "immutable" in headers["Cache-Control"]
        assert "no-store" not in headers["Cache-Control"]  # only pages and API answers
        assert "htmx" in script

        status, _, body = fetch(f"{base}/healthz", **https)
        assert status in (200, 503) and '"database": true' in body


@pytest.mark.django_db(transaction=True)
def test_granian_resolves_racing_writes_to_one_profile(production_env):
    """Writes arriving together at granian's threads (group commit) end in one profile."""
    token = make_token()
    bodies = [
        {"record": {"email": "Racer@Example.com" if i % 2 else "racer@example.com", "visits": i},
         "matchKey": "email"}
        for i in range(16)
    ]
    barrier = threading.Barrier(len(bodies))

    def send(base, body):
        request = urllib.request.Request(
            f"{base}/api/v1/profiles/upsert", data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "X-Forwarded-Proto": "https"},
        )
        barrier.wait(timeout=30)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())

    with granian(production_env) as base, ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(lambda body: send(base, body), bodies))

    assert sorted(status for status, _ in results) == [200] * 15 + [201]
    assert len({answer["profileId"] for _, answer in results}) == 1
    assert Identifier.objects.filter(value="racer@example.com").count() == 1
