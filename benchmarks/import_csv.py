"""CSV import (SPEC 12): 5,000 rows/s or more, memory flat in the file's size.

The benchmark runs against its own database, never the project's data:

1. writes a CSV of `--rows` rows (default 1,000,000) under .var/bench/: people with first_name,
   last_name, city, email (always: the match key), customer_id (70%) and phone (80%), about
   2.5 identifiers a row; about 10% of rows repeat an earlier person with the email's case and
   white space changed, the phone written another way and sometimes a new city;
2. creates the database `mergeguard_bench` on the server of DATABASE_URL and migrates it;
3. runs `manage.py import_profiles` in a subprocess, so the memory measured is the import's own
   (its peak resident set, from wait4), with DETECT_ON_WRITE off (see `run`);
4. prints rows, wall time, rows/s, peak memory and the profiles and identifiers in the database;
5. drops the database and deletes the files, also on error.
"""

import csv
import random
import time
import unicodedata
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import bench_database, run_measured
from benchmarks.people import AREAS, PHONE_FORMATS

BENCH_DB = "mergeguard_bench"
DEFAULT_ROWS = 1_000_000
REPEAT_SHARE = 0.10
PROJECT = Path(__file__).resolve().parent.parent
WORKDIR = PROJECT / ".var" / "bench"

# Target of SPEC 12 for this benchmark.
TARGET_ROWS_PER_S = 5_000

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Zoë", "José", "Renée", "Siobhán",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "O'Brien", "Müller", "Kowalski",
]
CITIES = [
    "New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio",
    "San Diego", "Dallas", "Austin", "Jacksonville", "Fort Worth", "Columbus", "Charlotte",
    "Indianapolis", "San Francisco", "Seattle", "Denver", "Boston", "Nashville", "Portland",
    "Las Vegas", "Detroit", "Memphis", "Louisville", "Baltimore", "Milwaukee", "Albuquerque",
]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
           "proton.me", "comcast.net", "example.org", "mail.com"]
MASK = (1 << 64) - 1


def run(args):
    rows = args.rows or DEFAULT_ROWS
    WORKDIR.mkdir(parents=True, exist_ok=True)
    path = WORKDIR / f"people-{rows}.csv"
    rejects = path.with_name(f"{path.name}.rejects.csv")

    started = time.perf_counter()
    people = _write_csv(path, rows)
    size_mb = path.stat().st_size / 2**20
    print(
        f"wrote {rows:,} rows ({people:,} people, {size_mb:,.1f} MB) to {path.relative_to(PROJECT)}"
        f" in {time.perf_counter() - started:.1f} s", flush=True,
    )
    try:
        with bench_database(BENCH_DB) as (bench_url, env):
            seconds, cpu_seconds, peak_mb = _import(env, path, rejects)
            counts = _counts(bench_url)
    finally:
        path.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)

    rate = rows / seconds
    print(f"rows:               {rows:,} ({people:,} people)")
    print(f"wall time:          {seconds:.1f} s (process start to exit)")
    print(
        f"rows/s:             {rate:,.0f} "
        f"({'meets' if rate >= TARGET_ROWS_PER_S else 'below'} the {TARGET_ROWS_PER_S:,} target)"
    )
    print(
        f"CPU of import:      {cpu_seconds:.1f} s ({cpu_seconds / seconds:.0%} of wall; the rest "
        "is waiting for PostgreSQL or for a core)"
    )
    print(f"peak RSS of import: {peak_mb:,.0f} MB")
    print(f"profiles:           {counts['profiles']:,}")
    print(f"identifiers:        {counts['identifiers']:,}")
    print(f"candidates:         {counts['candidates']:,}")


# -- the file --------------------------------------------------------------------------------


def _mix(n):
    """splitmix64: 64 well-mixed bits from n, so person n can be rebuilt without storing it."""
    z = (n * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _person(n):
    h, flags = _mix(n), _mix(n + (1 << 40))
    first = FIRST_NAMES[h % len(FIRST_NAMES)]
    last = LAST_NAMES[(h >> 8) % len(LAST_NAMES)]
    local = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace("'", ""))
    local = local.encode("ascii", "ignore").decode()  # Zoë's address is zoe.<...>
    exchange = 200 + (h >> 32) % 800
    if exchange % 100 == 11 or exchange == 555:  # N11 and 555 exchanges are not subscriber lines
        exchange += 1
    return {
        "first_name": first,
        "last_name": last,
        "city": CITIES[(h >> 16) % len(CITIES)],
        "email": f"{local}{n}@{DOMAINS[(h >> 24) % len(DOMAINS)]}",
        "phone": (AREAS[(h >> 40) % len(AREAS)], str(exchange), f"{(h >> 48) % 10000:04d}")
        if flags % 5 < 4 else None,
        "customer_id": f"C{n:09d}" if (flags >> 8) % 10 < 7 else None,
    }


def _noisy_email(email, rng):
    choice = rng.randrange(4)
    if choice == 0:
        email = email.upper()
    elif choice == 1:
        local, domain = email.split("@")
        email = f"{local.title()}@{domain.capitalize()}"
    return " " * rng.randrange(2) + email + " " * rng.randrange(3)


def _write_csv(path, rows):
    """Write the file; returns the number of distinct people in it."""
    rng = random.Random(20261122)
    people = 0
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["first_name", "last_name", "city", "email", "phone", "customer_id"])
        for _ in range(rows):
            repeat = people > 0 and rng.random() < REPEAT_SHARE
            if repeat:
                person = _person(rng.randrange(people))
                email = _noisy_email(person["email"], rng)
                if rng.random() < 0.2:
                    person["city"] = rng.choice(CITIES)
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
            writer.writerow([
                person["first_name"], person["last_name"], person["city"], email, phone or "",
                person["customer_id"] or "",
            ])
    return people


# -- database and import ---------------------------------------------------------------------


def _import(env, path, rejects):
    """Run the import; returns wall seconds, CPU seconds and peak RSS in MB of its process."""
    code, seconds, cpu_seconds, peak_mb, _ = run_measured(
        ["manage.py", "import_profiles", str(path), "--match-key", "email",
         "--source", "benchmark", "--reject-file", str(rejects)],
        env=env,
    )
    if code:
        raise RuntimeError(f"manage.py import_profiles exited with {code}")
    return seconds, cpu_seconds, peak_mb


def _counts(bench_url):
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        return {
            name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for name, table in [
                ("profiles", "profiles_profile"),
                ("identifiers", "identity_identifier"),
                ("candidates", "identity_duplicatecandidate"),
            ]
        }


