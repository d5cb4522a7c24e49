"""A bulk load through the API: the import benchmark's file sent as batch requests.

SPEC 12 sets no target of its own for `POST /api/v1/profiles/batch`; this measures what a
program loading customers through it gets, beside `import_profiles` on the same rows:

1. writes the import benchmark's CSV of `--rows` rows (default 200,000: benchmarks.import_csv,
   about 2.8 identifiers a row, 10% repeated people, households sharing phones) and turns each
   row into a record (its non-empty cells, matched on email), 1,000 records a request, the
   bodies encoded before the clock starts;
2. creates the database `mergeguard_bench_batch_<pid>`, migrates it, makes an API token and
   starts the README's production server (granian, 2 workers of 4 threads); writes queue their
   detection as in production, in an empty Redis database no worker takes (as the upsert
   benchmark does: detection is not part of this measurement);
3. CLIENTS connections send the requests, each its own contiguous part of the file in order;
4. prints records/s, the latency of a request, the statuses, CPU, and the profiles and
   identifiers stored: a profile for each of the file's people (import_profiles stores the same
   profiles and identifiers from this file); stops the server and drops the database, also on
   error.
"""

import csv
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import bench_database, manage
from benchmarks.import_csv import WORKDIR, write_csv
from benchmarks.serving import (
    Broker,
    Client,
    CpuMeter,
    Server,
    exit_on_sigterm,
    percentile,
    run_clients,
)

BENCH_DB = "mergeguard_bench_batch"  # + "_<pid>"
DEFAULT_ROWS = 200_000
RECORDS_PER_REQUEST = 1000  # identity.api.batch.MAX_RECORDS
CLIENTS = 2
SERVER = "granian-2x4"
PATH = "/api/v1/profiles/batch"


def run(args):
    rows = args.rows or DEFAULT_ROWS
    WORKDIR.mkdir(parents=True, exist_ok=True)
    path = WORKDIR / f"batch-people-{rows}.csv"
    try:
        people, identifiers = write_csv(path, rows)
        bodies = _bodies(path)
    finally:
        path.unlink(missing_ok=True)
    print(f"{rows:,} records ({people:,} people, {identifiers / rows:.2f} identifiers a record) in "
          f"{len(bodies):,} requests of up to {RECORDS_PER_REQUEST:,}", flush=True)

    database = f"{BENCH_DB}_{os.getpid()}"
    logdir = tempfile.mkdtemp(prefix="bench-batch-api-")
    broker = Broker(os.environ["REDIS_URL"])
    server, worker_pids = None, set()
    previous_handler = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        with bench_database(database) as (bench_url, env):
            env.update(ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DETECT_ON_WRITE="true",
                       REDIS_URL=broker.url, DATABASE_CONN_HEALTH_CHECKS="false",
                       API_RATE_LIMIT_PER_MINUTE="0")
            token = manage(env, "create_api_token", f"bench-{os.getpid()}").strip()
            try:
                server = Server(SERVER, env, logdir)
                meter = CpuMeter(server.proc.pid, database)
                result = _send(server.port, token, bodies, meter)
                worker_pids |= server.stop()
                server = None
                stored = _stored(bench_url)
            finally:
                if server is not None:
                    worker_pids |= server.stop()
                broker.remove_tasks_of(worker_pids)
        shutil.rmtree(logdir, ignore_errors=True)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    _report(rows, people, result, stored)


def _bodies(path):
    """The requests' bodies: the file's rows as records of their non-empty cells, in order."""
    bodies, records = [], []
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            record = {name: cell for name, cell in row.items() if cell}
            records.append({"record": record, "matchKey": "email"})
            if len(records) == RECORDS_PER_REQUEST:
                bodies.append(json.dumps({"records": records}).encode())
                records = []
    if records:
        bodies.append(json.dumps({"records": records}).encode())
    return bodies


def _send(port, token, bodies, meter):
    """Each client sends its contiguous part of `bodies` in order; the merged figures."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(CLIENTS + 1)
    results = context.Queue()
    parts = [bodies[i * len(bodies) // CLIENTS:(i + 1) * len(bodies) // CLIENTS]
             for i in range(CLIENTS)]
    procs = [context.Process(target=_client, args=(port, token, part, barrier, results),
                             daemon=True) for part in parts]
    merged, cpu = run_clients(procs, barrier, results, meter)
    latencies = sorted(ms for r in merged for ms in r["latencies"])
    return {
        "wall": max(r["end"] for r in merged) - min(r["start"] for r in merged),
        "latencies": latencies,
        "statuses": sum((r["statuses"] for r in merged), Counter()),
        "records": sum((r["records"] for r in merged), Counter()),
        "samples": [sample for r in merged for sample in r["samples"]][:5],
        "cpu": cpu,
    }


def _client(port, token, bodies, barrier, results):
    try:
        client = Client(port, token)
        client.request("GET", "/api/v1/profiles/lookup?type=email&value=warm@bench.example")
        statuses, records, samples, latencies = Counter(), Counter(), [], []
        barrier.wait(timeout=120)
        start = time.perf_counter()
        for body in bodies:
            began = time.perf_counter()
            status, data = client.post(PATH, body, Counter())
            latencies.append((time.perf_counter() - began) * 1000)
            statuses[status] += 1
            if status == 200:
                answer = json.loads(data)
                records.update(created=answer["created"], matched=answer["matched"],
                               rejected=answer["rejected"])
            elif len(samples) < 5:
                samples.append(f"{status}: {data[:300]!r}")
        results.put({"start": start, "end": time.perf_counter(), "latencies": latencies,
                     "statuses": statuses, "records": records, "samples": samples})
        client.close()
    except BaseException:
        results.put({"crash": traceback.format_exc()})


def _stored(bench_url):
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        return dict(zip(
            ("profiles", "identifiers", "conflicts"),
            conn.execute(
                "SELECT (SELECT count(*) FROM profiles_profile WHERE status = 'active'), "
                "(SELECT count(*) FROM identity_identifier), "
                "(SELECT count(*) FROM identity_identityconflict)"
            ).fetchone(),
            strict=True,
        ))


def _report(rows, people, r, stored):
    latencies, wall, cores = r["latencies"], r["wall"], os.cpu_count()

    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(r["statuses"].items(), key=str))
    counts = r["records"]
    print(f"server              {SERVER} (README's production command)")
    print(f"clients             {CLIENTS} connections, each its part of the file in order")
    print(f"records             {rows:,} in {wall:.1f} s: {rows / wall:,.0f} records/s")
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(f"request latency     p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, "
          f"max {latencies[-1]:,.0f} ms ({RECORDS_PER_REQUEST:,} records a request)")
    print(f"statuses            {statuses}")
    for sample in r["samples"]:
        print(f"  {sample}")
    print(f"records answered    created {counts['created']:,}, matched {counts['matched']:,}, "
          f"rejected {counts['rejected']:,}")
    ok = stored["profiles"] == people
    print(f"stored              {stored['profiles']:,} profiles for {people:,} people "
          f"({'ok' if ok else 'MISMATCH'}), {stored['identifiers']:,} identifiers, "
          f"{stored['conflicts']:,} conflicts")
    cpu = r["cpu"]
    busy = cpu["machine_busy"] * cores
    print(f"cpu (cores busy)    machine {busy:.2f} of {cores}: server "
          f"{cpu['server'] / wall:.2f}, postgres {cpu['postgres'] / wall:.2f}")
    print(f"cpu per record      server {cpu['server'] / rows * 1e6:.0f} us, postgres "
          f"{cpu['postgres'] / rows * 1e6:.0f} us")
