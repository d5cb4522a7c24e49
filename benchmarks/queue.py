"""The queue page at a million profiles (SPEC 12): server time and SQL queries per request.

Fills a database of its own with 1,000,000 profiles and 100,000 open candidates (a fifth of them
blocked) in SQL, then renders /queue/ in a separate process through Django's test client as a
logged-in steward: the first page, a page 200 pages deep, and five filter combinations.
Target: p95 under 100 ms on the server, the same number of queries whatever the page size.

`--rows N` fills N profiles and a tenth as many candidates (at most 100,000). To measure again
without filling again: `BENCH_KEEP=1` keeps the database when the run ends, and `BENCH_REUSE=1`
measures in the kept database when it holds the same number of profiles (and keeps it).
CPU ms is this process's CPU time per request (Python, not the database's), less noisy than
wall time on a shared machine.
"""

import os
import re
import subprocess
import sys
import time

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import (
    PAGE_COLUMNS,
    PROJECT,
    bench_database,
    kept_database,
    logged_in_client,
    page_figures,
    page_timer,
)

NAME = "mergeguard_bench_queue"
DEFAULT_PROFILES = 1_000_000
CANDIDATES = 100_000
DEEP_PAGES = 200
REQUESTS = 30
TARGET_P95_MS = 100
SCENARIOS = [
    ("first page", "/queue/"),
    ("deep page (200 pages in)", None),
    ("blocked only", "/queue/?blocked=yes"),
    ("reason unique_id_conflict, by score", "/queue/?reason=unique_id_conflict&sort=score"),
    ("shared values, unassigned", "/queue/?evidence=shared_value&assignee=unassigned"),
    ("score 10 to 20, oldest first", "/queue/?score_min=10&score_max=20&sort=oldest"),
    ("matched on phone, waiting > 7 days", "/queue/?type=phone&age=week_plus"),
]


def run(args):
    profiles = args.rows or DEFAULT_PROFILES
    reuse = os.environ.get("BENCH_REUSE") == "1"
    keep = reuse or os.environ.get("BENCH_KEEP") == "1"
    if reuse and (env := kept_database(NAME, "SELECT max(id) FROM profiles_profile", profiles)):
        print(f"reusing {NAME}: {profiles:,} profiles", flush=True)
        _measure_in(env)
        return
    with bench_database(NAME, keep=keep) as (url, env):
        started = time.perf_counter()
        _fill(url, profiles)
        print(f"filled {profiles:,} profiles and {_candidates(profiles):,} open candidates in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        _measure_in(env)
    if keep:
        print(f"kept database {NAME}: BENCH_REUSE=1 measures in it again", flush=True)


def _measure_in(env):
    subprocess.run([sys.executable, "-m", "benchmarks.queue"], cwd=PROJECT, env=env, check=True)


def _candidates(profiles):
    return min(CANDIDATES, profiles // 10)


def _fill(url, profiles):
    with psycopg.connect(make_conninfo(url)) as conn:
        conn.execute("""
            INSERT INTO profiles_profile (id, status, attributes, created_at, updated_at)
            SELECT g, 'active', jsonb_build_object(
                'first_name', jsonb_build_object('v', (ARRAY['Ann','Bob','Cy','Dee','Eli',
                    'Fay','Gus','Hal','Ivy','Jo'])[1 + g %% 10], 't', '2026-01-01T00:00:00Z'),
                'last_name', jsonb_build_object('v', 'Family' || (g %% 5000),
                    't', '2026-01-01T00:00:00Z')),
                now(), now()
            FROM generate_series(1, %(n)s) g
        """, {"n": profiles})
        conn.execute("SELECT setval(pg_get_serial_sequence('profiles_profile', 'id'), %s)",
                     [profiles])
        conn.execute("""
            INSERT INTO identity_identifier (profile_id, type_id, raw_value, value, is_current,
                is_unique, is_single_valued, grants_access, source, first_seen, last_seen)
            SELECT g, t.id, 'person' || g || '@example.com', 'person' || g || '@example.com',
                   true, true, false, true, 'bench', now(), now()
            FROM generate_series(1, %(n)s) g, identity_identifiertype t WHERE t.key = 'email'
            UNION ALL
            SELECT g, t.id, '+1212' || lpad(((g + 1) / 2 %% 10000000)::text, 7, '0'),
                   '+1212' || lpad(((g + 1) / 2 %% 10000000)::text, 7, '0'),
                   true, false, false, false, 'bench', now(), now()
            FROM generate_series(1, %(pairs)s) g, identity_identifiertype t WHERE t.key = 'phone'
        """, {"n": profiles, "pairs": _candidates(profiles) * 2})
        conn.execute("""
            INSERT INTO identity_duplicatecandidate (id, status, evidence, score, auto_merge,
                created_at, updated_at, blocking_codes, dismiss_reason)
            SELECT c, 'open', jsonb_build_array(jsonb_build_object(
                       'rule', 'shared_value', 'type', 'phone',
                       'value', '+1212' || lpad((c %% 10000000)::text, 7, '0'),
                       'profiles', jsonb_build_array(2 * c - 1, 2 * c), 'score', 12)),
                   10 + (c %% 25), false,
                   now() - (c %% 60) * interval '1 day' - c * interval '1 second', now(),
                   CASE WHEN c %% 5 = 0 THEN ARRAY['unique_id_conflict']::varchar[]
                        ELSE ARRAY[]::varchar[] END, ''
            FROM generate_series(1, %(n)s) c
        """, {"n": _candidates(profiles)})
        conn.execute("SELECT setval(pg_get_serial_sequence('identity_duplicatecandidate', 'id'),"
                     " %s)", [_candidates(profiles)])
        conn.execute("""
            INSERT INTO identity_candidatemember (candidate_id, profile_id)
            SELECT c, 2 * c - 1 FROM generate_series(1, %(n)s) c
            UNION ALL SELECT c, 2 * c FROM generate_series(1, %(n)s) c
        """, {"n": _candidates(profiles)})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def _measure():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from identity.models import DuplicateCandidate
    from merges.roles import STEWARD

    client = logged_in_client("bench-steward", STEWARD)

    timed = page_timer(client)

    url = "/queue/"
    # Not past the last page on a small data set.
    deep = min(DEEP_PAGES, DuplicateCandidate.objects.count() // 50 - 2)
    for _ in range(deep):
        found = re.search(r'href="(\?[^"]*)"[^>]*rel="next"', timed(url)[2])
        url = "/queue/" + found.group(1).replace("&amp;", "&")
    print(f"{'scenario':<40} {PAGE_COLUMNS}")
    worst = 0.0
    for name, scenario_url in SCENARIOS:
        target = scenario_url or url
        timed(target)  # warm
        p95, figures = page_figures(timed, target, REQUESTS)
        worst = max(worst, p95)
        print(f"{name:<40} {figures}")
    verdict = "meets" if worst < TARGET_P95_MS else "misses"
    print(f"worst p95 {worst:.1f} ms: {verdict} the target of {TARGET_P95_MS} ms "
          "(50 rows a page; queries must not change with the page size)")


if __name__ == "__main__":
    _measure()
