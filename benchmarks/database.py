"""A database of a benchmark's own, beside the demo's, dropped when the benchmark ends."""

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg.conninfo import make_conninfo

PROJECT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_database(name, *, keep=False):
    """Create and migrate database `name`; yields (its URL, an environment pointing at it).

    Writes in that environment queue no detection tasks: no worker serves the bench database,
    and the demo's worker must never be handed its profile ids.
    """
    admin_url = os.environ["DATABASE_URL"]
    url, env = _bench_url_and_env(name)
    with psycopg.connect(make_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        manage(env, "migrate", "--no-input")
        yield url, env
    finally:
        if not keep:
            with psycopg.connect(make_conninfo(admin_url), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def kept_database(name, count_sql, expected):
    """The environment for database `name` kept by an earlier run (BENCH_KEEP=1) when
    `count_sql` there answers `expected` (it holds the same data set), else None."""
    url, env = _bench_url_and_env(name)
    try:
        with psycopg.connect(make_conninfo(url)) as conn:
            count = conn.execute(count_sql).fetchone()[0]
    except psycopg.Error:
        return None
    return env if count == expected else None


def _bench_url_and_env(name):
    url = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))
    env = {**os.environ, "DATABASE_URL": url, "DETECT_ON_WRITE": "false",
           "SECURE_SSL_REDIRECT": "false"}
    env.pop("DEBUG", None)
    return url, env


def logged_in_client(username, role):
    """A Django test client logged in as `username` of `role`, for page benchmarks run in a
    child process whose Django is set up on the bench database."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    user, _ = User.objects.get_or_create(username=username)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def page_timer(client):
    """timed(url) -> (wall ms, queries, body, SQL ms, CPU ms) of one GET by `client`; the page
    must answer 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def timed(url):
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
        assert response.status_code == 200, (url, response.status_code)
        sql_ms = sum(float(query["time"]) for query in queries.captured_queries) * 1000
        return elapsed, len(queries), response.content.decode(), sql_ms, cpu_ms

    return timed


PAGE_COLUMNS = (f"{'p50 ms':>7} {'p95 ms':>7} {'SQL ms':>7} {'CPU ms':>7} {'queries':>8} "
                f"{'q@25':>5} {'q@100':>6}")


def page_figures(timed, target, requests):
    """(p95 ms, a line of PAGE_COLUMNS) for `requests` GETs of `target`: wall p50 and p95, SQL
    and CPU medians, the query counts seen, and the query count at 25 and at 100 rows a page."""
    times, counts, sql, cpu = [], set(), [], []
    for _ in range(requests):
        elapsed, count, _, sql_ms, cpu_ms = timed(target)
        times.append(elapsed)
        counts.add(count)
        sql.append(sql_ms)
        cpu.append(cpu_ms)
    joiner = "&" if "?" in target else "?"
    small = timed(f"{target}{joiner}size=25")[1]
    large = timed(f"{target}{joiner}size=100")[1]
    p95 = statistics.quantiles(times, n=20)[-1]
    return p95, (f"{statistics.median(times):>7.1f} {p95:>7.1f} {statistics.median(sql):>7.1f} "
                 f"{statistics.median(cpu):>7.1f} {'/'.join(map(str, sorted(counts))):>8} "
                 f"{small:>5} {large:>6}")


def manage(env, *command):
    done = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=PROJECT, env=env,
        capture_output=True, text=True,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def run_measured(command, *, env, stdout=None):
    """Run a Python command (`[script or -m module, args...]`) in a child process.

    Returns (exit code, wall seconds, CPU seconds, the child's own peak memory in MB (see
    benchmarks.peak), its standard output when `stdout` is PIPE).
    """
    with tempfile.NamedTemporaryFile(prefix="bench-peak-") as peak_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.peak", *command], cwd=PROJECT,
            env={**env, "BENCH_PEAK_FILE": peak_file.name}, stdout=stdout, text=True,
        )
        output = process.stdout.read() if stdout is not None else None
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        peak_kb = int(Path(peak_file.name).read_text() or 0)
    return (process.returncode, seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024,
            output)


def empty_redis_database(redis_url):
    """The URL of an empty database on REDIS_URL's server (the highest numbered first), where
    a benchmark's tasks and pending detection meet no worker and none of the project's keys."""
    base = urlsplit(redis_url)
    for db in range(15, 0, -1):
        url = urlunsplit(base._replace(path=f"/{db}"))
        try:
            if redis.Redis.from_url(url).dbsize() == 0:
                return url
        except redis.ResponseError:  # the server has fewer databases
            continue
    raise RuntimeError(f"no empty Redis database on {redis_url} for a benchmark")
