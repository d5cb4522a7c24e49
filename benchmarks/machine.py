"""How fast this machine runs now: a fixed piece of Python and one of PostgreSQL, timed.

A shared machine's speed moves by a tenth within an hour and by more than half from one day to
the next, and every figure of a benchmark moves with it. `make bench` prints these two
references first; a figure is comparable with another measured where the references read the
same, and the README gives them beside its figures. Neither touches the project's code or data:
a change to either leaves them where they are.
"""

import os
import time

import psycopg

ROUNDS = 3


def python_milliseconds():
    """The best of three rounds of string, dict and integer work in pure Python."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        seen = {}
        for n in range(300_000):
            key = f"person{n % 5_000}@example.com".upper().strip()
            seen[key] = seen.get(key, 0) + n * 7 % 13
        best = min(best, time.perf_counter() - started)
    return best * 1000


def postgres_milliseconds(url):
    """The best of three rounds of PostgreSQL inserting 100,000 rows into a table with two
    B-tree indexes (a temporary table of its own)."""
    best = float("inf")
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(ROUNDS):
            conn.execute("CREATE TEMP TABLE machine_reference (id bigint, value text)")
            conn.execute("CREATE INDEX ON machine_reference (id)")
            conn.execute("CREATE INDEX ON machine_reference (value)")
            started = time.perf_counter()
            conn.execute("INSERT INTO machine_reference SELECT n, md5(n::text) "
                         "FROM generate_series(1, 100000) AS n")
            best = min(best, time.perf_counter() - started)
            conn.execute("DROP TABLE machine_reference")
    return best * 1000


def describe():
    """The line `make bench` prints first."""
    return (f"machine now: Python reference {python_milliseconds():,.0f} ms, PostgreSQL "
            f"reference {postgres_milliseconds(os.environ['DATABASE_URL']):,.0f} ms "
            "(lower is faster; figures compare where these read alike)")
