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

import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import tempfile
import time
import traceback
from array import array
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import bench_database, manage
from benchmarks.serving import (
    SERVERS,
    Broker,
    Client,
    CpuMeter,
    Server,
    exit_on_sigterm,
    percentile,
    run_clients,
)

BENCH_DB = "mergeguard_bench_api"  # + "_<pid>", so that two runs at once do not meet
CLIENTS = 8
DEFAULT_ROWS = 40_000
PATH = "/api/v1/profiles/upsert"

# Targets of SPEC 12 for this benchmark.
TARGET_WRITES_PER_S = 1_000
TARGET_P95_MS = 50

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
    broker = Broker(os.environ["REDIS_URL"])
    # A plain `kill` ends the run through the finally blocks, which drop the database.
    previous_handler = signal.signal(signal.SIGTERM, exit_on_sigterm)
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
                        server = Server(name, env, logdir)
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
                server = Server(best, env, logdir)
                meter = CpuMeter(server.proc.pid, database)
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


def _reset_data(bench_url):
    """Empty the tables a write touches, so every run starts from no profiles."""
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE profiles_profile, identity_identifier, identity_duplicatecandidate, "
            "identity_candidatemember, identity_identityconflict, identity_idempotencyrecord, "
            "identity_pendingdetection RESTART IDENTITY CASCADE"
        )
        conn.execute("VACUUM ANALYZE")




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
    results, cpu = run_clients(procs, barrier, queue, meter)
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
    client = Client(port, token)
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

    overlapping = sum(
        1 for sends in races.values()
        if len(sends) == 2 and max(s[0] for s in sends) < min(s[1] for s in sends)
    )
    return {
        "writes": len(latencies), "wall": wall, "rate": len(latencies) / wall,
        "p50": percentile(ordered, 50), "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99), "max": ordered[-1],
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
