"""Production serving: gunicorn + WhiteNoise, DEBUG off, `check --deploy` clean."""

import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, gunicorn, server_env

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
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


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


def test_gunicorn_serves_pages_and_hashed_static_files(production_env):
    assert manage(production_env, "collectstatic", "--noinput").returncode == 0
    https = {"X-Forwarded-Proto": "https"}
    with gunicorn(production_env, "--workers", "2") as base:
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
        assert "htmx" in script

        status, _, body = fetch(f"{base}/healthz", **https)
        assert status in (200, 503) and '"database": true' in body
