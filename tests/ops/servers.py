"""Servers a test owns, to stop and start them under a running product: a Redis, a PostgreSQL
cluster, a Celery beat. Each on a free port of its own, so the shared ones are never touched."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests.conftest import ROOT, celery_process, free_port

OWNER = "mergeguard"  # PostgreSQL refuses to run as root (as scripts/services.sh does)


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds} s")
        time.sleep(0.1)


class RedisServer:
    """A redis-server on a free port, without persistence; `stop` and `start` keep the port."""

    def __init__(self, folder):
        self.folder, self.port, self.process = folder, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def answers(self):
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
             "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, 20, "redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        wait_until(lambda: not self.answers(), 10, "redis-server did not stop")


@contextlib.contextmanager
def redis_server(folder):
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_owner(command):
    if os.geteuid() == 0:
        return ["runuser", "-u", OWNER, "--", *command]
    return command


def _postgres_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: int(path.parent.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql (scripts/services.sh)")
    return found[-1].parent


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary folder, on a free port, with a database
    `mergeguard` migrated by the project; `stop` and `start` keep its port and data."""

    def __init__(self):
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="mergeguard-pg-"))
        self.folder.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.folder, OWNER)
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/mergeguard"
        subprocess.run(
            _as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                       "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, capture_output=True,
        )

    def _ctl(self, *args):
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]),
                       check=True, capture_output=True, timeout=60)

    def start(self):
        self._ctl("-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start")

    def stop(self, mode="fast"):
        self._ctl("-m", mode, "-w", "stop")

    def create_database(self, env):
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE mergeguard")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                       env={**env, "DATABASE_URL": self.url}, check=True, capture_output=True,
                       timeout=300)

    def remove(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def postgres_server():
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextlib.contextmanager
def beat_process(folder, **env):
    """`celery -A config beat` on the test database (and the Redis of `env`, if given)."""
    command = ["beat", "-l", "INFO", "-s", str(folder / "celerybeat-schedule")]
    with celery_process(command, "test-beat.log", **env) as process:
        yield process
