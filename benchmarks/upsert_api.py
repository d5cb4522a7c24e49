"""Upsert API under load (SPEC 12): 8 clients, >= 1,000 writes/s, p95 < 50 ms, 0 duplicates.

The benchmark runs against its own database and its own server, never the project's data:

1. creates the database `mergeguard_bench_api_<pid>` on the server of DATABASE_URL, migrates it and
   makes an API token;
2. for each server set-up of SERVERS, a short trial run (skipped when only one is chosen, see
   BENCH_SERVER below); the fastest one serves the measured run;
3. the measured run: 8 client processes, each with a persistent HTTP connection (re-opened when
   the server closes it, as sync workers do after every response), send `--rows` writes in all.
   Most writes pick a person at random from a pool of rows/4 and send their email (the matchKey)
   with a random subset of their other identifiers and attributes, so clients race on the same
   person. Every FRESH_EVERY-th write of a client is instead for a brand-new person, which the
   other client of its pair sends at the same moment (they meet at a barrier first) with its own
   spelling of the email and its own subset of identifiers: the race of SPEC 3.5;
4. prints throughput, client-side latency, the status codes and, from SQL in the bench database,
   the people (by identifier) spread over more than one active profile ("duplicates");
5. stops the server and drops the database, also on error.

Writes leave duplicate detection in an outbox table in their own transaction (DETECT_ON_WRITE):
the profiles they touched, one INSERT per transaction, and a drain task is queued after commit
when none is waiting. The benchmark's server queues tasks in an empty Redis database of
REDIS_URL's server, where no worker takes them (a worker of the project's own database would
look for the bench's profile ids there); tasks are counted and removed at the end, and the
profiles left in the outbox counted. Detection itself is not part of this measurement.

`BENCH_SERVER=<name>` (a name of SERVERS) skips the trials and uses that set-up only;
`BENCH_SERVER=<name>,<name>` tries only those.
"""

import http.client
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from array import array
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from psycopg.conninfo import make_conninfo

from benchmarks.database import bench_database, empty_redis_database, manage
from identity.matching.pending import SCHEDULED_KEY

BENCH_DB = "mergeguard_bench_api"  # + "_<pid>", so that two runs at once do not meet
CLIENTS = 8
DEFAULT_ROWS = 40_000
PATH = "/api/v1/profiles/upsert"
PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Targets of SPEC 12 for this benchmark.
TARGET_WRITES_PER_S = 1_000
TARGET_P95_MS = 50

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

# Every FRESH_EVERY-th write of a client is for a brand-new person, sent by a pair of clients.
FRESH_EVERY = 10
WARMUP_REQUESTS = 25  # lookups per client before the clock starts (imports, DB connections)

# Phone numbers: person n gets +1 <AREAS[n // 10000]> 555 <n % 10000>.
AREAS = ["212", "646", "917", "718", "347", "929", "332", "516", "631", "914"]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Perlman"]
CITIES = ["New York", "Boston", "Chicago", "Denver", "Austin", "Seattle", "Portland", "Miami"]


def run(args):
    rows = args.rows or DEFAULT_ROWS
    pool_size = max(1, rows // 4)
    if pool_size + _new_people(rows) > len(AREAS) * 10_000:
        raise SystemExit(f"--rows {rows:,} needs more phone numbers than AREAS holds")
    chosen = [name for name in os.environ.get("BENCH_SERVER", "").split(",") if name]
    if unknown := [name for name in chosen if name not in SERVERS]:
        raise SystemExit(f"BENCH_SERVER names set-ups of {', '.join(SERVERS)}, not {unknown}")
    servers = chosen or list(SERVERS)

    database = f"{BENCH_DB}_{os.getpid()}"
    logdir = tempfile.mkdtemp(prefix="bench-upsert-api-")
    server = None
    worker_pids = set()
    broker = _Broker(os.environ["REDIS_URL"])
    # A plain `kill` ends the run through the finally blocks, which drop the database.
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with bench_database(database) as (bench_url, env):
            # Writes queue detection as in production, on a Redis database of the bench's own.
            # No SELECT 1 before each request's first query: the set-up README recommends for
            # the API's workers.
            # The per-token rate limit is counted on every write, as in production, with a
            # limit the benchmark's one token stays under (API_RATE_LIMIT_PER_MINUTE=0 given to
            # the benchmark measures without it).
            env.update(ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DETECT_ON_WRITE="true",
                       REDIS_URL=broker.url, DATABASE_CONN_HEALTH_CHECKS="false",
                       API_RATE_LIMIT_PER_MINUTE=os.environ.get("API_RATE_LIMIT_PER_MINUTE",
                                                                "100000000"))
            token = manage(
                env, "create_api_token", f"bench-{os.getpid()}-{time.time_ns()}"
            ).strip()
            try:
                trials = {}
                if len(servers) > 1:
                    trial_rows = min(rows, max(2_000, rows // 5))
                    for name in servers:
                        _reset_data(bench_url)
                        server = _Server(name, env, logdir)
                        try:
                            result = _load(server.port, token, trial_rows,
                                           min(pool_size, trial_rows // 4))
                        finally:
                            worker_pids |= server.stop()
                            server = None
                        trials[name] = result
                        print(
                            f"trial {name:<12} {trial_rows:,} writes: {result['rate']:,.0f} "
                            f"writes/s, p95 {result['p95']:.1f} ms, failures "
                            f"{result['failures']}", flush=True,
                        )
                    best = max(trials, key=lambda name: trials[name]["rate"])
                else:
                    best = servers[0]

                _reset_data(bench_url)
                server = _Server(best, env, logdir)
                meter = _CpuMeter(server.proc.pid, database)
                result = _load(server.port, token, rows, pool_size, meter)
                measured_workers = server.stop()
                worker_pids |= measured_workers
                server = None
                check = _check_database(bench_url, pool_size + _new_people(rows))
                check["queued"] = broker.queued(measured_workers)
                _report(best, rows, pool_size, result, check)
                shutil.rmtree(logdir, ignore_errors=True)
            finally:
                if server is not None:
                    worker_pids |= server.stop()
                broker.remove_tasks_of(worker_pids)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


# -- database and server ---------------------------------------------------------------------


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _reset_data(bench_url):
    """Empty the tables a write touches, so every run starts from no profiles."""
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE profiles_profile, identity_identifier, identity_duplicatecandidate, "
            "identity_candidatemember, identity_identityconflict, identity_idempotencyrecord, "
            "identity_pendingdetection RESTART IDENTITY CASCADE"
        )
        conn.execute("VACUUM ANALYZE")




def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """A server of SERVERS serving config.wsgi on a free port, started and stopped by its pid."""

    def __init__(self, name, env, logdir):
        self.name = name
        self.port = _free_port()
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


class _Broker:
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


# -- the people and their writes -------------------------------------------------------------


def _person(n):
    """The normalised identifiers and fixed attributes of pool person n."""
    area, line = AREAS[(n // 10_000) % len(AREAS)], n % 10_000
    return {
        "email": f"person{n}@bench.example",
        "customer_id": f"C{n:07d}",
        "phone": f"+1{area}555{line:04d}",
        "loyalty_card": f"L{n:08d}",
        "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
        "last_name": LAST_NAMES[n % len(LAST_NAMES)],
    }


def _shares(rows):
    """The number of writes each client sends."""
    return [rows // CLIENTS + (1 if i < rows % CLIENTS else 0) for i in range(CLIENTS)]


def _fresh_per_pair(rows):
    """The brand-new people each pair of clients races on."""
    return min(_shares(rows)) // FRESH_EVERY


def _new_people(rows):
    return _fresh_per_pair(rows) * (CLIENTS // 2)


def _new_person_number(pool_size, k, pair):
    """The k-th brand-new person of pair `pair`: numbered after the pool."""
    return pool_size + k * (CLIENTS // 2) + pair


def _raw_phone(e164, rng):
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return rng.choice(
        [f"+1 {area} {exchange} {line}", f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}"]
    )


def _raw_email(email, rng):
    return rng.choice([email, email.upper(), f" {email.capitalize()} "])


def _body(person, rng, observed_at):
    """One write for `person`: its email plus a random subset of the rest."""
    record = {"email": _raw_email(person["email"], rng)}
    access = ["email"] if rng.random() < 0.5 else []
    if rng.random() < 0.6:
        record["customer_id"] = person["customer_id"]
    if rng.random() < 0.5:
        record["phone"] = _raw_phone(person["phone"], rng)
        if rng.random() < 0.3:
            access.append("phone")
    if rng.random() < 0.2:
        record["loyalty_card"] = person["loyalty_card"]
    if rng.random() < 0.7:
        record["first_name"] = person["first_name"]
        record["last_name"] = person["last_name"]
    if rng.random() < 0.5:
        record["city"] = rng.choice(CITIES)
    if rng.random() < 0.3:
        record["tier"] = rng.randint(1, 3)
    if rng.random() < 0.2:
        record["newsletter"] = rng.random() < 0.5
    payload = {"record": record, "matchKey": "email", "observedAt": observed_at.isoformat()}
    if access:
        payload["accessContacts"] = access
    return json.dumps(payload).encode()


# -- the clients -----------------------------------------------------------------------------


def _load(port, token, rows, pool_size, meter=None):
    """`rows` writes from CLIENTS processes at once; the merged client-side figures."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(CLIENTS + 1)
    pair_barriers = [context.Barrier(2) for _ in range(CLIENTS // 2)]
    queue = context.Queue()
    shares = _shares(rows)
    fresh = _fresh_per_pair(rows)
    procs = [
        context.Process(
            target=_client,
            args=(i, shares[i], fresh, pool_size, port, token, barrier, pair_barriers[i // 2],
                  queue),
            daemon=True,
        )
        for i in range(CLIENTS)
    ]
    for proc in procs:
        proc.start()
    results = []
    try:
        barrier.wait(timeout=300)
        if meter:
            meter.start()
        for _ in procs:
            results.append(queue.get(timeout=3600))
        if meter:
            cpu = meter.stop()
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    crashed = [r["crash"] for r in results if "crash" in r]
    if crashed:
        raise RuntimeError(f"a client failed:\n{crashed[0]}")
    merged = _merge(results)
    if meter:
        merged["cpu"] = cpu
    return merged


def _client(index, writes, fresh, pool_size, port, token, barrier, pair_barrier, queue):
    try:
        queue.put(
            _client_run(index, writes, fresh, pool_size, port, token, barrier, pair_barrier)
        )
    except BaseException:
        pair_barrier.abort()
        queue.put({"crash": traceback.format_exc()})


def _client_run(index, writes, fresh, pool_size, port, token, barrier, pair_barrier):
    """Send `writes` writes; the FRESH_EVERY-th ones (`fresh` of them) race the pair's other."""
    rng = random.Random(1_000 + index)
    now = datetime.now(UTC)
    pair = index // 2
    plan = []  # (new person number or None, body)
    for i in range(writes):
        k, position = divmod(i, FRESH_EVERY)
        if position == FRESH_EVERY // 2 and k < fresh:
            n = _new_person_number(pool_size, k, pair)
            plan.append((n, _body(_person(n), rng, now)))
        else:
            n = rng.randrange(pool_size)
            observed_at = now - timedelta(seconds=rng.uniform(0, 600))
            plan.append((None, _body(_person(n), rng, observed_at)))
    client = _Client(port, token)
    counters = Counter()
    for _ in range(WARMUP_REQUESTS):
        client.request("GET", f"/api/v1/profiles/lookup?type=email&value=warm{index}@bench.example")

    latencies = array("d")
    statuses = Counter()
    failures = []
    races = []  # (new person, start, end, created)
    barrier.wait(timeout=300)
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for new_person, body in plan:
        if new_person is not None:
            pair_barrier.wait(timeout=120)
        began = time.perf_counter()
        status, data = client.post(PATH, body, counters)
        ended = time.perf_counter()
        latencies.append((ended - began) * 1000)
        statuses[status] += 1
        created = False
        if status in (200, 201):
            answer = json.loads(data)
            created = answer["created"]
            counters["created"] += created
            counters["with_conflicts"] += bool(answer["conflicts"])
        elif len(failures) < 5:
            failures.append(f"{status}: {data[:300]!r}")
        if new_person is not None:
            races.append((new_person, began, ended))
    end = time.perf_counter()
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    client.close()
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    return {
        "start": start, "end": end, "latencies": latencies.tobytes(), "statuses": statuses,
        "counters": counters, "failures": failures, "races": races, "cpu": cpu,
    }


class _Client:
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


def _merge(results):
    latencies = array("d")
    statuses, counters = Counter(), Counter()
    failures, races = [], {}
    for r in results:
        latencies.frombytes(r["latencies"])
        statuses.update(r["statuses"])
        counters.update(r["counters"])
        failures += r["failures"]
        for new_person, began, ended in r["races"]:
            races.setdefault(new_person, []).append((began, ended))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    overlapping = sum(
        1 for sends in races.values()
        if len(sends) == 2 and max(s[0] for s in sends) < min(s[1] for s in sends)
    )
    return {
        "writes": len(latencies), "wall": wall, "rate": len(latencies) / wall,
        "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": ordered[-1],
        "statuses": statuses, "counters": counters, "samples": failures,
        "failures": sum(n for status, n in statuses.items() if status not in (200, 201)),
        "races": sum(1 for sends in races.values() if len(sends) == 2),
        "overlapping": overlapping,
        "client_cpu": sum(r["cpu"] for r in results),
    }


# -- after the run ---------------------------------------------------------------------------


def _check_database(bench_url, people):
    """Duplicates: people whose identifiers are held by more than one active profile."""
    keys = ("email", "customer_id", "phone", "loyalty_card")
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_person (person int, key text, value text) ON COMMIT DROP"
        )
        with conn.cursor().copy("COPY bench_person (person, key, value) FROM STDIN") as copy:
            for n in range(people):
                person = _person(n)
                for key in keys:
                    copy.write_row((n, key, person[key]))
        conn.execute("ANALYZE bench_person")
        duplicates, people = conn.execute(
            """
            SELECT count(*) FILTER (WHERE profiles > 1), count(*)
            FROM (
                SELECT b.person, count(DISTINCT i.profile_id) AS profiles
                FROM bench_person b
                JOIN identity_identifiertype t ON t.key = b.key
                JOIN identity_identifier i ON i.type_id = t.id AND i.value = b.value
                JOIN profiles_profile p ON p.id = i.profile_id AND p.status = 'active'
                GROUP BY b.person
            ) AS held
            """
        ).fetchone()
        active, identifiers, conflicts, candidates = conn.execute(
            """
            SELECT (SELECT count(*) FROM profiles_profile WHERE status = 'active'),
                   (SELECT count(*) FROM identity_identifier),
                   (SELECT count(*) FROM identity_identityconflict),
                   (SELECT count(*) FROM identity_duplicatecandidate)
            """
        ).fetchone()
        # The profiles the writes left for incremental detection (the outbox).
        (pending,) = conn.execute(
            "SELECT count(DISTINCT profile_id) FROM identity_pendingdetection"
        ).fetchone()
    return {
        "duplicates": duplicates, "people": people, "active": active,
        "identifiers": identifiers, "conflicts": conflicts, "candidates": candidates,
        "pending": pending,
    }


class _CpuMeter:
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


def _report(server, rows, pool_size, r, check):
    def verdict(ok):
        return "ok" if ok else "MISSED"

    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(r["statuses"].items(), key=str))
    program, arguments = SERVERS[server]
    print(f"server              {server} ({program} {' '.join(arguments)})")
    print(f"clients             {CLIENTS} processes, persistent HTTP/1.1 connections")
    print(f"people              pool of {pool_size:,} (random picks), plus {r['races']:,} new "
          f"people each sent by 2 clients at once ({r['overlapping']:,} pairs in flight together)")
    print(f"writes              {r['writes']:,}")
    print(f"wall                {r['wall']:.2f} s")
    print(f"throughput          {r['rate']:,.0f} writes/s        target >= {TARGET_WRITES_PER_S:,}"
          f"   {verdict(r['rate'] >= TARGET_WRITES_PER_S)}")
    print(f"latency p50         {r['p50']:.1f} ms")
    print(f"latency p95         {r['p95']:.1f} ms            target < {TARGET_P95_MS} ms"
          f"     {verdict(r['p95'] < TARGET_P95_MS)}")
    print(f"latency p99 / max   {r['p99']:.1f} / {r['max']:.1f} ms")
    print(f"statuses            {statuses}")
    print(f"failures (non-2xx)  {r['failures']:,}          target 0           "
          f"{verdict(r['failures'] == 0)}")
    for sample in r["samples"][:5]:
        print(f"  {sample}")
    print(f"duplicates          {check['duplicates']:,}          target 0           "
          f"{verdict(check['duplicates'] == 0)}")
    created = r["counters"]["created"]
    print(f"profiles            {check['active']:,} active for {check['people']:,} people written, "
          f"{created:,} writes answered created "
          f"({verdict(check['active'] == check['people'] == created)})")
    print(f"identifiers         {check['identifiers']:,}; conflicts recorded "
          f"{check['conflicts']:,}, candidates {check['candidates']:,}, responses with "
          f"conflicts {r['counters']['with_conflicts']:,}")
    print(f"detection           {check['pending']:,} profiles pending, {check['queued']:,} tasks "
          f"queued after commit (not run here: no worker)")
    print(f"reconnects          {r['counters']['reconnects']:,} (stale keep-alive connections)")
    cpu, wall, cores = r["cpu"], r["wall"], os.cpu_count()
    busy = cpu["machine_busy"] * cores * wall
    other = busy - cpu["server"] - cpu["postgres"] - r["client_cpu"]
    print(f"cpu (cores busy)    machine {busy / wall:.2f} of {cores}: server "
          f"{cpu['server'] / wall:.2f}, postgres {cpu['postgres'] / wall:.2f}, clients "
          f"{r['client_cpu'] / wall:.2f}, other {other / wall:.2f} (other work on the machine "
          f"slows the figures)")
    print(f"cpu per write       server {cpu['server'] / r['writes'] * 1e3:.2f} ms, postgres "
          f"{cpu['postgres'] / r['writes'] * 1e3:.2f} ms, clients "
          f"{r['client_cpu'] / r['writes'] * 1e3:.2f} ms", flush=True)
