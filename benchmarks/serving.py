"""A stock server serving config.wsgi for the API benchmarks, its clients and its CPU meter.

The benchmarks run the server against a database of their own (benchmarks.database), with
writes queueing their detection tasks in an empty Redis database (Broker) no worker takes.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from benchmarks.database import empty_redis_database
from identity.matching.pending import SCHEDULED_KEY

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Stock server set-ups to try on a 2-core machine, each configured as its documentation says:
# name -> (program, arguments), "{port}" replaced by a free port. Threaded servers share
# transactions between the concurrent writes of a process (group commit,
# identity/writing/batching.py; API_GROUP_COMMIT=false turns it off); sync workers resolve each
# write alone and close the connection after every response. Granian is README's production
# command (Production serving). Gunicorn's gthread keeps at most --worker-connections minus
# --threads connections alive between requests, so --worker-connections leaves room for all 8
# clients.
GRANIAN = ["--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}", "--backlog", "2048",
           "--log-level", "warning"]
GUNICORN = ["config.wsgi", "--bind", "127.0.0.1:{port}", "--backlog", "2048",
            "--log-level", "warning"]
SERVERS = {
    "granian-2x4": ("granian", [*GRANIAN, "--workers", "2", "--blocking-threads", "4",
                                "--respawn-failed-workers", "--workers-kill-timeout", "30",
                                "config.wsgi:application"]),
    "gthread-2x4": ("gunicorn", [*GUNICORN, "--worker-class", "gthread", "--workers", "2",
                                 "--threads", "4", "--worker-connections", "12",
                                 "--keep-alive", "30"]),
    "sync-4": ("gunicorn", [*GUNICORN, "--worker-class", "sync", "--workers", "4"]),
}


def exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server of SERVERS serving config.wsgi on a free port, started and stopped by its pid."""

    def __init__(self, name, env, logdir):
        self.name = name
        self.port = free_port()
        self.log = Path(logdir) / f"server-{name}.log"
        program, arguments = SERVERS[name]
        command = [str(BIN / program),
                   *(argument.replace("{port}", str(self.port)) for argument in arguments)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.worker_pids = set()
        try:
            self._wait_until_it_answers()
        except BaseException:
            self.stop()
            raise
        self._note_workers()

    def _note_workers(self):
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:  # not a process, or gone
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == self.proc.pid:
                self.worker_pids.add(int(entry))

    def _wait_until_it_answers(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/profiles/lookup?type=email&value=a@b.example")
                status = conn.getresponse().status
                conn.close()
                if status in (401, 404):
                    return
                raise RuntimeError(f"{self.name} answers {status}:\n{self.log.read_text()[-3000:]}")
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer in {timeout} s")

    def stop(self):
        """Stop the server; returns the pids its workers had."""
        if self.proc.poll() is None:
            self._note_workers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.worker_pids


class Broker:
    """An empty Redis database for the Celery tasks the bench's writes queue."""

    QUEUE = "celery"
    # The messages published by the given server workers (Celery's "origin" header is
    # "gen<pid>@<host>"): ARGV[1] "count" counts them, "remove" removes them, keeping anything
    # else in order. Returns how many.
    SCRIPT = """
    local pids = {}
    for i = 2, #ARGV do pids[ARGV[i]] = true end
    local keep, mine = {}, 0
    for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
      local ok, message = pcall(cjson.decode, item)
      local origin = ok and type(message) == 'table' and type(message.headers) == 'table'
        and message.headers.origin
      local pid = type(origin) == 'string' and string.match(origin, '^gen(%d+)@')
      if pid and pids[pid] then mine = mine + 1 else table.insert(keep, item) end
    end
    if ARGV[1] == 'remove' and mine > 0 then
      redis.call('DEL', KEYS[1])
      for i = 1, #keep, 1000 do
        redis.call('RPUSH', KEYS[1], unpack(keep, i, math.min(i + 999, #keep)))
      end
    end
    return mine
    """

    def __init__(self, redis_url):
        self.url = empty_redis_database(redis_url)
        self.client = redis.Redis.from_url(self.url)

    def queued(self, worker_pids):
        return self.client.eval(self.SCRIPT, 1, self.QUEUE, "count", *worker_pids)

    def remove_tasks_of(self, worker_pids):
        removed = self.client.eval(self.SCRIPT, 1, self.QUEUE, "remove", *worker_pids)
        self.client.delete(SCHEDULED_KEY)
        if self.client.llen(self.QUEUE) == 0:
            # Celery's bookkeeping of the queue, when nothing else uses this database.
            keys = [key.decode() for key in self.client.keys("*")]
            if all(key.startswith("_kombu.") for key in keys) and keys:
                self.client.delete(*keys)
        return removed


class Client:
    """A lean HTTP/1.1 client on one keep-alive connection.

    The requests are a few fixed bytes around the body and the answers are read by their
    Content-Length: with http.client the clients took 0.30 ms of CPU per write, on the same
    2 cores as the server the benchmark is about; this way they take about half that. A server
    closing the connection (sync workers answer `Connection: close`) makes the next request
    reconnect.
    """

    def __init__(self, port, token):
        self.port = port
        self.head = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n"
        ).encode()
        self.sock = None
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def post(self, path, body, counters):
        """POST `body`; (status, body). A connection the server closed in between is re-opened
        once; other failures come back as a status string."""
        for attempt in (0, 1):
            reused = self.sock is not None
            try:
                return self.request("POST", path, body)
            except ConnectionError as error:
                self.close()
                if attempt or not reused:
                    return f"connection error ({type(error).__name__})", b""
                counters["reconnects"] += 1
            except OSError as error:  # timeouts
                self.close()
                return f"connection error ({type(error).__name__})", b""

    def request(self, method, path, body=None):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.head
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.sock.sendall(head + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get(b"content-length", b"0"))
        while len(self.buffer) < length:
            self._receive()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        if fields.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, data

    def _receive(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += chunk


class CpuMeter:
    """CPU time of the machine, of the server (master and workers) and of the PostgreSQL backends
    serving `database` (known by their process title; the server's own background processes
    are left out).

    Sampled from /proc every SAMPLE seconds by a thread, so that database backends which end
    during the run (Django closes connections after CONN_MAX_AGE) are still counted.
    """

    SAMPLE = 0.5

    def __init__(self, server_pid, database):
        self.server_pid = server_pid
        self.backend_title = f" {database} ".encode()
        self.hz = os.sysconf("SC_CLK_TCK")
        self.first, self.last = {}, {}  # pid -> (kind, ticks)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.machine_start = self._machine()
        self._sample(initial=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self._sample()
        machine = self._machine()
        busy, total = (machine[i] - self.machine_start[i] for i in (0, 1))
        seconds = dict.fromkeys(("server", "postgres"), 0.0)
        for pid, (kind, ticks) in self.last.items():
            seconds[kind] += (ticks - self.first.get(pid, (kind, 0))[1]) / self.hz
        return {"machine_busy": busy / max(1, total), **seconds}

    def _loop(self):
        while not self.stopping.wait(self.SAMPLE):
            self._sample()

    @staticmethod
    def _machine():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)  # busy, all (idle, iowait out)

    def _is_backend(self, entry):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                return self.backend_title in f.read()
        except OSError:
            return False

    def _sample(self, initial=False):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            rest = stat[stat.rindex(")") + 2:].split()
            pid, ppid, ticks = int(entry), int(rest[1]), int(rest[11]) + int(rest[12])
            if self.server_pid in (pid, ppid):
                kind = "server"
            elif comm == "postgres" and self._is_backend(entry):
                kind = "postgres"
            else:
                continue
            if initial:
                self.first[pid] = (kind, ticks)
            self.last[pid] = (kind, ticks)


def run_clients(procs, barrier, results, meter=None):
    """Start the client processes `procs`, start `meter` (a CpuMeter, if given) once they all
    wait at `barrier`, and collect one result each from the queue `results`; returns (results,
    the meter's figures or None). A client that failed puts {"crash": its traceback}: raised
    here."""
    for proc in procs:
        proc.start()
    cpu = None
    try:
        barrier.wait(timeout=300)
        if meter:
            meter.start()
        collected = [results.get(timeout=3600) for _ in procs]
        if meter:
            cpu = meter.stop()
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    if crashed := [r["crash"] for r in collected if "crash" in r]:
        raise RuntimeError(f"a client failed:\n{crashed[0]}")
    return collected, cpu


def percentile(ordered, p):
    """The p-th percentile of the sorted, non-empty list `ordered` (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
