"""CSV import as users run it (SPEC 12): 10,000 rows/s or more with the defaults and a worker
running, memory flat in the file's size, and a 1,000,000-row file to a review queue ready in
under 5 minutes (import and its detection).

The benchmark runs against its own database, never the project's data:

1. writes a CSV of `--rows` rows (default 1,000,000) under .var/bench/: people with first_name,
   last_name, date_of_birth, city, postcode (names, cities and postcodes drawn with the skew of
   the detection benchmark's benchmarks.people), email (always: the match key), phone (80%),
   customer_id (70%) and loyalty_card (35%), about 2.8 identifiers a row; about 2% of people
   live in a household of two sharing a surname, an address and the household's phone; about
   one row in 2,000 carries the shop's own phone (a placeholder a till enters: a junk value);
   about 10% of rows repeat an earlier person with the email's case and white space changed, the
   phone written another way and sometimes a new city;
2. creates the database `mergeguard_bench` on the server of DATABASE_URL and migrates it;
3. starts a real Celery worker on it (with an empty Redis database of its own), with
   DETECT_ON_WRITE on, as `make demo` and production run;
4. runs `manage.py import_profiles FILE --match-key email` with nothing else but the bench's
   reject file: the defaults, so the import's duplicate detection at its end is included; the
   command ends when the review queue is ready. Its peak memory is the import process's own
   (benchmarks.peak), its CPU that of the import and its reading process;
5. runs a full detection over the loaded data (`manage.py detect_duplicates --sync`, measured
   the same way) for SPEC 12's detection target;
6. prints rows/s, time until the queue is ready, peak memory, CPU, and the profiles,
   identifiers, candidates and junk values in the database; drops the database and deletes the
   files, also on error.
"""

import bisect
import csv
import os
import random
import re
import subprocess
import sys
import threading
import time
import unicodedata
from functools import cache
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import bench_database, empty_redis_database, run_measured
from benchmarks.people import AREAS, PHONE_FORMATS, Tables
from benchmarks.people import SEED as PEOPLE_SEED

BENCH_DB = os.environ.get("BENCH_DB_NAME") or "mergeguard_bench"
DEFAULT_ROWS = 1_000_000
REPEAT_SHARE = 0.10
HOUSEHOLD_SHARE = 0.02  # of people: pairs sharing surname, address and phone
SHOP_PHONE = "(212) 555-0100"  # a placeholder a till enters for walk-in customers
SHOP_PHONE_SHARE = 0.0005
PROJECT = Path(__file__).resolve().parent.parent
WORKDIR = PROJECT / ".var" / "bench"

# Targets of SPEC 12 for this benchmark.
TARGET_ROWS_PER_S = 10_000
TARGET_READY_SECONDS = 300
TARGET_DETECTION_SECONDS = 60
TARGET_DETECTION_MB = 500

DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
           "proton.me", "comcast.net", "example.org", "mail.com"]
MASK = (1 << 64) - 1


def run(args):
    rows = args.rows or DEFAULT_ROWS
    WORKDIR.mkdir(parents=True, exist_ok=True)
    path = WORKDIR / f"people-{rows}.csv"
    rejects = path.with_name(f"{path.name}.rejects.csv")

    started = time.perf_counter()
    people, identifiers = write_csv(path, rows)
    size_mb = path.stat().st_size / 2**20
    print(
        f"wrote {rows:,} rows ({people:,} people, {identifiers / rows:.2f} identifiers a row, "
        f"{size_mb:,.1f} MB) to {path.relative_to(PROJECT)} in "
        f"{time.perf_counter() - started:.1f} s", flush=True,
    )
    try:
        with bench_database(BENCH_DB) as (bench_url, env):
            env = {**env, "DETECT_ON_WRITE": "true",
                   "REDIS_URL": empty_redis_database(env["REDIS_URL"])}
            with _worker(env), _PostgresCpu(bench_url) as postgres:
                imported = _measure(env, ["manage.py", "import_profiles", str(path),
                                          "--match-key", "email", "--reject-file", str(rejects)])
                counts = _counts(bench_url)
            detected = _measure(env, ["manage.py", "detect_duplicates", "--sync"])
    finally:
        path.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)

    seconds, cpu, peak_mb, output = imported
    read = re.search(r"Read ([\d,]+) rows in ([\d.]+) s", output)
    import_seconds = float(read[2]) if read else seconds
    detection = re.search(r"Duplicate detection \((.+?)\) over ([\d,]+) profiles in ([\d.]+) s",
                          output)
    rate = rows / import_seconds
    print(f"rows:                    {rows:,} ({people:,} people)")
    print(
        f"import rows/s:           {rate:,.0f} ({import_seconds:.1f} s reading and resolving; "
        f"{'meets' if rate >= TARGET_ROWS_PER_S else 'below'} the {TARGET_ROWS_PER_S:,} target)"
    )
    if detection:
        print(f"import's detection:      {detection[1]} over {detection[2]} profiles, "
              f"{detection[3]} s")
    print(
        f"queue ready after:       {seconds:.1f} s (process start to exit; "
        f"{'meets' if seconds < TARGET_READY_SECONDS else 'over'} the "
        f"{TARGET_READY_SECONDS} s target)"
    )
    print(f"overall rows/s:          {rows / seconds:,.0f} (to a ready queue)")
    print(f"peak RSS of import:      {peak_mb:,.0f} MB")
    print(
        f"CPU of import:           {cpu:.1f} s ({cpu / seconds:.0%} of wall; its reading "
        "process included, PostgreSQL's not)"
    )
    print(
        f"CPU of PostgreSQL:       {postgres.seconds:.1f} s (its processes serving the bench "
        "database meanwhile: import, worker)"
    )
    busy = (cpu + postgres.seconds) / 2
    print(
        f"CPU-bound estimate:      {rows / busy:,.0f} rows/s to a ready queue were both cores "
        "its alone ((import + PostgreSQL CPU) / 2 cores)"
    )
    print(f"pending detection left:  {counts['pending']:,} (the worker's outbox)")
    print(f"profiles:                {counts['profiles']:,}")
    print(f"identifiers:             {counts['identifiers']:,}")
    print(f"open candidates:         {counts['candidates']:,}")
    print(f"junk values:             {counts['junk']:,}")
    seconds, _, peak_mb, _ = detected
    met = seconds < TARGET_DETECTION_SECONDS and peak_mb < TARGET_DETECTION_MB
    print(
        f"full detection:          {seconds:.1f} s, peak {peak_mb:,.0f} MB ("
        f"{'meets' if met else 'misses'} the {TARGET_DETECTION_SECONDS} s / "
        f"{TARGET_DETECTION_MB} MB target)"
    )
    print("(figures on a shared machine are pessimistic: other work takes cores meanwhile)")


# -- the file --------------------------------------------------------------------------------


def _mix(n):
    """splitmix64: 64 well-mixed bits from n, so person n can be rebuilt without storing it."""
    z = (n * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


@cache
def _tables():
    """The detection benchmark's names, cities and postcodes (benchmarks.people), with their
    skew: a few hundred first names and a few thousand surnames, about 300 cities."""
    return Tables(random.Random(PEOPLE_SEED))


def _pick(values, cumulative, bits):
    """A value of `values` drawn by their cumulative weights with 32 random bits."""
    return values[bisect.bisect_right(cumulative, (bits & 0xFFFF_FFFF) / 2**32 * cumulative[-1])]


def _address(h):
    tables = _tables()
    city = _pick(tables.cities, tables.city_cum, h >> 32)
    codes = tables.postcodes[city]
    return city, codes[(h >> 16) % len(codes)]


def _person(n):
    """Person n, rebuilt from n alone. People 2k and 2k+1 may be a household: same surname,
    address and phone (the household's), different first names and dates of birth."""
    h, flags, names = _mix(n), _mix(n + (1 << 40)), _mix(n + (1 << 42))
    tables = _tables()
    first = _pick(tables.first_names, tables.first_cum, names)
    last = _pick(tables.surnames, tables.surname_cum, names >> 32)
    city, postcode = _address(h)
    phone = _phone(h) if flags % 5 < 4 else None
    pair = _mix((n // 2) + (1 << 41))
    if pair % 1000 < HOUSEHOLD_SHARE * 1000:
        head = n // 2 * 2
        last = _pick(tables.surnames, tables.surname_cum, _mix(head + (1 << 42)) >> 32)
        city, postcode = _address(_mix(head))
        phone = _phone(pair)
    local = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace("'", ""))
    local = local.encode("ascii", "ignore").decode()  # Zoë's address is zoe.<...>
    year, month, day = 1940 + (flags >> 12) % 65, 1 + (flags >> 20) % 12, 1 + (flags >> 24) % 28
    return {
        "first_name": first,
        "last_name": last,
        "date_of_birth": f"{year:04d}-{month:02d}-{day:02d}",
        "city": city,
        "postcode": postcode,
        "email": f"{local}{n}@{DOMAINS[(h >> 24) % len(DOMAINS)]}",
        "phone": phone,
        "customer_id": f"C{n:09d}" if (flags >> 8) % 10 < 7 else None,
        "loyalty_card": f"LC{7_000_000_000 + n}" if (flags >> 32) % 100 < 35 else None,
    }


def _phone(h):
    exchange = 200 + (h >> 32) % 800
    if exchange % 100 == 11 or exchange == 555:  # N11 and 555 exchanges are not subscriber lines
        exchange += 1
    return AREAS[(h >> 40) % len(AREAS)], str(exchange), f"{(h >> 48) % 10000:04d}"


def _noisy_email(email, rng):
    choice = rng.randrange(4)
    if choice == 0:
        email = email.upper()
    elif choice == 1:
        local, domain = email.split("@")
        email = f"{local.title()}@{domain.capitalize()}"
    return " " * rng.randrange(2) + email + " " * rng.randrange(3)


COLUMNS = ["first_name", "last_name", "date_of_birth", "city", "postcode", "email", "phone",
           "customer_id", "loyalty_card"]


def write_csv(path, rows):
    """Write the file; returns the number of distinct people in it and of identifiers."""
    rng = random.Random(20261122)
    people = identifiers = 0
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for _ in range(rows):
            repeat = people > 0 and rng.random() < REPEAT_SHARE
            if repeat:
                person = _person(rng.randrange(people))
                email = _noisy_email(person["email"], rng)
                if rng.random() < 0.2:
                    person["city"] = rng.choice(_tables().cities)
                if rng.random() < 0.5:
                    person["customer_id"] = None
            else:
                person = _person(people)
                email = person["email"]
                people += 1
            phone = person["phone"]
            if phone is not None:
                a, e, line = phone
                phone = rng.choice(PHONE_FORMATS).format(a=a, e=e, l=line)
            if rng.random() < SHOP_PHONE_SHARE:
                phone = SHOP_PHONE
            person["email"], person["phone"] = email, phone
            row = [person[column] or "" for column in COLUMNS]
            identifiers += sum(1 for column in ("email", "phone", "customer_id", "loyalty_card")
                               if person[column])
            writer.writerow(row)
    return people, identifiers


# -- database, worker and measures ------------------------------------------------------------


class _worker:
    """A real Celery worker on the bench database, as `make demo` runs one, while in the block."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.log = open(WORKDIR / "worker.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO",
             "--without-mingle", "--without-gossip", "-n", f"bench-{os.getpid()}@%h"],
            cwd=PROJECT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        time.sleep(3)  # the worker's start: the import reads its header meanwhile anyway
        if self.process.poll() is not None:
            raise RuntimeError(f"the Celery worker did not start: see {WORKDIR / 'worker.log'}")
        return self.process

    def __exit__(self, *exc_info):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class _PostgresCpu:
    """CPU seconds of the PostgreSQL processes serving a database while in the block, sampled
    from /proc twice a second (a process's last sample before it ends counts)."""

    def __init__(self, url):
        self.url = url
        self.last = {}
        self.stop = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self):
        return sum(self.last.values())

    def _sample(self):
        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(make_conninfo(self.url), autocommit=True) as conn:
            while not self.stop.wait(0.5):
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:  # ended, or PostgreSQL on another machine
                        continue
                    self.last[pid] = (int(fields[11]) + int(fields[12])) / tick


def _measure(env, command):
    """Run a manage.py command; returns wall seconds, CPU seconds, peak RSS in MB of its process
    and its output, which is also printed."""
    code, seconds, cpu_seconds, peak_mb, output = run_measured(
        command, env=env, stdout=subprocess.PIPE
    )
    print(output, end="", flush=True)
    if code:
        raise RuntimeError(f"{' '.join(command)} exited with {code}")
    return seconds, cpu_seconds, peak_mb, output


def _counts(bench_url):
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        return {
            name: conn.execute(sql).fetchone()[0]
            for name, sql in [
                ("profiles", "SELECT count(*) FROM profiles_profile"),
                ("identifiers", "SELECT count(*) FROM identity_identifier"),
                ("candidates",
                 "SELECT count(*) FROM identity_duplicatecandidate WHERE status = 'open'"),
                ("junk", "SELECT count(*) FROM identity_junkvalue"),
                ("pending", "SELECT count(*) FROM identity_pendingdetection"),
            ]
        }
