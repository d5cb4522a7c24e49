"""Shared fixtures: personas, a real Celery worker, a real headless Chromium."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

# Playwright's sync API runs an event loop in the test thread; the ORM must still work there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pgtrigger  # noqa: E402
import pytest  # noqa: E402
from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402

from config.celery import app as celery_app  # noqa: E402
from merges import roles  # noqa: E402
from tests.factories import population, write  # noqa: E402
from tests.identity.conftest import detect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "1"))
PASSWORD = "correct horse battery staple"
AUDIT_TRUNCATE_TRIGGERS = ("merges.AuditEntry:no_truncate", "merges.AuditPayload:no_truncate")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def redis_url_with_db(url, db):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def database_url(settings_dict):
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return (
        f"postgres://{auth}{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )


# The suite runs beside `make demo`: its tasks go through their own Redis database, so the
# demo's worker never picks them up. The test client and live server speak plain HTTP, and
# static files are served unhashed from the source folders.
settings.REDIS_URL = redis_url_with_db(settings.REDIS_URL, TEST_REDIS_DB)
settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = settings.REDIS_URL
celery_app.conf.update(broker_url=settings.REDIS_URL, result_backend=settings.REDIS_URL)
settings.SECURE_SSL_REDIRECT = False
# Writes queue incremental detection only in the tests that ask for it (settings fixture), so a
# running test worker never changes another test's candidates.
settings.DETECT_ON_WRITE = False
# Likewise automatic merges of linking writes (the tests of automatic merges turn them on).
settings.AUTOMATIC_MERGES = False
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise serves STATIC_ROOT too; a fresh checkout has not collected anything there yet.
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Transactional tests end with a flush, a TRUNCATE of every table. The audit history refuses
    TRUNCATE (merges.models.AuditEntry's triggers); the test database's flush alone may."""
    with pgtrigger.ignore(*AUDIT_TRUNCATE_TRIGGERS):
        return (yield)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra):
    """The environment a server process needs to run on the test database and Redis.

    As in the test process, writes there (a worker's merges) leave no detection unless a test
    asks (DETECT_ON_WRITE=true): a drain left running past a test's end would hold the tables
    its flush truncates."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DETECT_ON_WRITE": "false",
        **extra,
    }


@contextlib.contextmanager
def gunicorn(env, *options):
    """A real gunicorn serving the project on a free port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         *options],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def make_user(username, role=None, **extra):
    user = User.objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db):
    return make_user("viewer", roles.VIEWER)


@pytest.fixture
def steward(db):
    return make_user("steward", roles.STEWARD)


@pytest.fixture
def senior(db):
    return make_user("senior", roles.SENIOR_STEWARD)


@pytest.fixture
def admin(db):
    return make_user("admin", roles.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def nobody(db):
    """Logged in, but in no role."""
    return make_user("nobody")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real `celery -A config worker` on the test database and the test Redis database.

    Tests using it must commit their data (`django_db(transaction=True)`) for the worker to see it.
    """
    celery_app.control.purge()
    with worker_process() as process:
        yield process


def kill(process, sessions):
    """SIGKILL `process`, started with PGAPPNAME=`sessions`, and return once PostgreSQL has
    ended all its sessions: a COMMIT it had sent before it died still completes after it."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           [sessions])
            if cursor.fetchone()[0] == 0:
                return
            assert time.monotonic() < deadline, f"the sessions of {sessions} did not end"
            time.sleep(0.05)


@contextlib.contextmanager
def celery_process(command, log_name, **env):
    """`celery -A config <command>` on the test database and Redis (`env` added to its
    environment), its output in .var/<log_name>; stopped when the block ends."""
    log = open(ROOT / ".var" / log_name, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", *command],
        cwd=ROOT, env=server_env(**env), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextlib.contextmanager
def worker_process(*options, **env):
    """A real Celery worker process (solo pool) on the test database and Redis; `options` are
    added to its command line (`-Q queue`), `env` to its environment."""
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = ["worker", "--pool=solo", "--without-mingle", "--without-gossip", "-l", "INFO",
               "-n", name, *options]
    with celery_process(command, "test-worker.log", **env) as process:
        hostname = name.replace("%h", os.uname().nodename)
        deadline = time.monotonic() + 60
        # Asked through the worker's own broker: a test may give it a Redis of its own.
        broker_url = env.get("REDIS_URL", settings.REDIS_URL)
        with Celery(broker=broker_url, set_as_current=False) as its_broker:
            while not its_broker.control.ping(destination=[hostname], timeout=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(
                        "the test Celery worker did not start: see .var/test-worker.log"
                    )
        yield process


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}}


@pytest.fixture
def log_in(live_server, page):
    """Logs `user` in through the login form, as a person would."""

    def log_in_as(user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return log_in_as


# -- groups of profiles many tests start from ------------------------------------------------


@pytest.fixture
def household(db):
    """Maria and Carlos Garcia: one landline, each their own loyalty card (blocked)."""
    maria = write(
        {"email": "maria.garcia@example.com", "phone": "(212) 555-0142",
         "loyalty_card": "LC-40017", "first_name": "Maria", "last_name": "Garcia",
         "city": "New York"},
        "email", accessContacts=["email"], source="webshop",
    ).profile_id
    carlos = write(
        {"loyalty_card": "LC-40018", "phone": "+1 212 555 0142", "first_name": "Carlos",
         "last_name": "Garcia", "city": "New York"},
        "loyalty_card", accessContacts=["loyalty_card"], source="till",
    ).profile_id
    return maria, carlos


@pytest.fixture
def ken(db):
    """Ken Okafor by phone at the till and by email online: one person (not blocked)."""
    online = write({"phone": "646.555.0199", "email": "ken.okafor@example.com",
                    "first_name": "Ken", "last_name": "Okafor"}, "email").profile_id
    till = write({"customer_id": "C-1004", "phone": "+16465550199", "first_name": "Kenneth",
                  "last_name": "Okafor"}, "customer_id").profile_id
    return online, till


@pytest.fixture
def namesakes(db):
    """Two Jon Smithsons, born in different years in different cities, among 100 others."""
    population()
    boston = write({"email": "jon.smithson@example.com", "first_name": "Jon",
                    "last_name": "Smithson", "date_of_birth": "1984-07-12", "city": "Boston"},
                   "email").profile_id
    denver = write({"email": "j.smithson@example.org", "first_name": "Jon",
                    "last_name": "Smithson", "date_of_birth": "1971-07-12", "city": "Denver"},
                   "email").profile_id
    detect()
    return boston, denver
