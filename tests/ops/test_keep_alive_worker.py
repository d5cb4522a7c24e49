"""config.workers.KeepAliveThreadWorker: keep-alive connections stay open and on their thread,
and a busy connection never keeps another one from being served."""

import socket
import threading
import time

import pytest

from tests.conftest import gunicorn, server_env

pytestmark = pytest.mark.django_db

WORKER = ["--worker-class", "config.workers.KeepAliveThreadWorker", "--workers", "1",
          "--keep-alive", "30"]


class Connection:
    """One HTTP/1.1 connection, requests sent one after another."""

    def __init__(self, base):
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""

    def get(self, path):
        """(status, headers) of GET `path`; headers lower-cased."""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {name.lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        while len(self.buffer) < int(headers.get("content-length", 0)):
            self._receive()
        self.buffer = self.buffer[int(headers.get("content-length", 0)):]
        return int(lines[0].split()[1]), headers

    def _receive(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += chunk

    def close(self):
        self.sock.close()


def test_one_connection_serves_request_after_request(tmp_path):
    # Stock gthread with as many connections as threads answers every request with
    # `Connection: close`, and warns so at start.
    log = tmp_path / "gunicorn.log"
    with gunicorn(server_env(), *WORKER, "--threads", "2", "--worker-connections", "2",
                  "--error-logfile", str(log)) as base:
        client = Connection(base)
        answers = [client.get("/api/v1/openapi.json"), client.get("/api/v1/openapi.json")]
        time.sleep(0.5)  # quiet for longer than a thread waits: the connection is parked
        answers.append(client.get("/api/v1/openapi.json"))
        client.close()

    assert [status for status, _ in answers] == [200, 200, 200]
    assert all(headers.get("connection", "").lower() != "close" for _, headers in answers)
    assert "No keepalived connections" not in log.read_text()


def test_a_busy_connection_does_not_keep_a_new_one_waiting():
    with gunicorn(server_env(), *WORKER, "--threads", "1", "--worker-connections", "2") as base:
        busy = Connection(base)
        busy.get("/api/v1/openapi.json")
        newcomer_answered = threading.Event()
        busy_statuses = []

        def keep_busy():
            # Requests back to back, as an importing client sends them, until the newcomer
            # has its answer (or 15 s have passed).
            deadline = time.monotonic() + 15
            while not newcomer_answered.is_set() and time.monotonic() < deadline:
                busy_statuses.append(busy.get("/api/v1/openapi.json")[0])

        sender = threading.Thread(target=keep_busy)
        sender.start()
        time.sleep(0.3)
        newcomer = Connection(base)
        newcomer.sock.settimeout(10)
        status, _ = newcomer.get("/api/v1/openapi.json")
        newcomer_answered.set()
        sender.join()
        still_open = busy.get("/api/v1/openapi.json")[0]
        busy.close()
        newcomer.close()

    assert status == 200
    assert set(busy_statuses) == {200} and still_open == 200
