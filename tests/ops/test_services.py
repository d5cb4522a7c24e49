"""`make services` starts the project-local servers, reuses them; `make stop` stops them."""

import os
import shutil
import socket
import subprocess

import pytest

from tests.conftest import ROOT


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def database_port(folder):
    """The PostgreSQL port `make services` wrote into the checkout's .var/env."""
    url = next(
        line for line in (folder / ".var" / "env").read_text().splitlines()
        if line.startswith("DATABASE_URL=")
    )
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture
def checkout(tmp_path):
    """A copy of the project's service script in a folder of its own, on ports of its own."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "services.sh", tmp_path / "scripts" / "services.sh")
    tmp_path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(MERGEGUARD_PG_PORT=str(free_port()), MERGEGUARD_REDIS_PORT=str(free_port()))

    def services(action):
        return subprocess.run(
            ["bash", "scripts/services.sh", action], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120,
        )

    yield tmp_path, env, services
    services("stop")


def test_services_start_reuse_and_stop(checkout):
    folder, env, services = checkout
    pg_port, redis_port = int(env["MERGEGUARD_PG_PORT"]), int(env["MERGEGUARD_REDIS_PORT"])

    first = services("start")
    assert first.returncode == 0, first.stderr
    assert "PostgreSQL started" in first.stdout and "Redis started" in first.stdout
    assert listening(pg_port) and listening(redis_port)
    written = (folder / ".var" / "env").read_text()
    assert f"DATABASE_URL=postgres://postgres@127.0.0.1:{pg_port}/mergeguard\n" in written
    assert f"REDIS_URL=redis://127.0.0.1:{redis_port}/0\n" in written
    postmaster = (folder / ".var" / "postgres" / "data" / "postmaster.pid").read_text()

    second = services("start")
    assert second.returncode == 0, second.stderr
    assert "PostgreSQL already running" in second.stdout
    assert "Redis already running" in second.stdout
    assert (folder / ".var" / "postgres" / "data" / "postmaster.pid").read_text() == postmaster
    trgm = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-d", "mergeguard",
         "-tAc", "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'"],
        capture_output=True, text=True,
    )
    assert trgm.stdout.strip() == "pg_trgm"

    stopped = services("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not listening(pg_port) and not listening(redis_port)


def test_services_leave_servers_given_in_the_environment_alone(checkout):
    folder, env, services = checkout
    env.update(DATABASE_URL="postgres://elsewhere:5432/db", REDIS_URL="redis://elsewhere:6379/0")

    result = services("start")

    assert result.returncode == 0, result.stderr
    assert "started" not in result.stdout
    assert not (folder / ".var" / "postgres").exists()
    written = (folder / ".var" / "env").read_text()
    assert "DATABASE_URL=postgres://elsewhere:5432/db\n" in written
    assert "REDIS_URL=redis://elsewhere:6379/0\n" in written


def test_services_move_to_the_next_free_port_when_another_program_holds_theirs(checkout):
    folder, env, services = checkout
    pg_port = int(env["MERGEGUARD_PG_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", pg_port))
        squatter.listen()

        result = services("start")

        assert result.returncode == 0, result.stderr
    used = database_port(folder)
    assert used != pg_port
    assert listening(used)


def test_services_skip_a_port_an_outgoing_connection_uses(checkout):
    folder, env, services = checkout
    pg_port = int(env["MERGEGUARD_PG_PORT"])
    # The project's ports lie in the ephemeral range: a client's connection can hold one as its
    # local port, and then no server can bind it, though nothing listens there.
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.bind(("127.0.0.1", pg_port))
        client.connect(server.getsockname())
        assert not listening(pg_port)

        result = services("start")

        assert result.returncode == 0, result.stderr
    used = database_port(folder)
    assert used != pg_port
    assert listening(used)
