"""The identifier-type impact preview at a million profiles (SPEC 12: under 3 s).

Fills a database of its own with 1,000,000 profiles (an email each, a third of them granting
account access) and 100,000 open candidates (pairs sharing a phone). Loyalty cards as a queue
holds them: in a fifth of the pairs both profiles hold a card (different ones), in two fifths
one does, and every third profile outside the pairs has one. A store card type held by both
profiles of every pair is the worst case: all 100,000 candidates judged. Then it times
`identity.types.impact.preview` in a separate process, as the settings page and the API call
it, for:

- loyalty card "do not merge" on: every pair with two cards is judged with and without it;
- store card "do not merge" on: every pair judged;
- email no longer granting access: every pair where a profile's email grants access;
- phone no longer matchable, loyalty card auto-merge on: the evidence index;
- phone made unique: refused, with the sample of shared phones.

`--rows N` fills N profiles and a tenth as many candidates (at most 100,000). `BENCH_KEEP=1` keeps
the database; `BENCH_REUSE=1` measures in a kept one holding the same number of profiles.
"""

import os
import statistics
import subprocess
import sys
import time

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import PROJECT, bench_database, kept_database

NAME = "mergeguard_bench_type_preview"
DEFAULT_PROFILES = 1_000_000
CANDIDATES = 100_000
RUNS = 3
TARGET_SECONDS = 3.0
SCENARIOS = [
    ("loyalty_card do_not_merge on", "loyalty_card", {"do_not_merge": True}),
    ("store_card do_not_merge on (worst)", "store_card", {"do_not_merge": True}),
    ("email can_grant_access off", "email", {"can_grant_access": False}),
    ("phone matchable off", "phone", {"matchable": False}),
    ("loyalty_card auto_merge on", "loyalty_card", {"auto_merge": True}),
    ("phone unique on (refused)", "phone", {"unique": True}),
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
    subprocess.run([sys.executable, "-m", "benchmarks.type_preview"], cwd=PROJECT, env=env,
                   check=True)


def _candidates(profiles):
    return min(CANDIDATES, profiles // 10)


def _fill(url, profiles):
    pairs = _candidates(profiles)
    with psycopg.connect(make_conninfo(url)) as conn:
        conn.execute("UPDATE identity_identifiertype SET do_not_merge = false "
                     "WHERE key = 'loyalty_card'")
        conn.execute("""
            INSERT INTO identity_identifiertype (key, label, normaliser, "unique", single_valued,
                do_not_merge, can_grant_access, matchable, auto_merge, priority)
            VALUES ('store_card', 'Store card', 'trim', true, true, false, false, false, false, 6)
        """)
        conn.execute("""
            INSERT INTO profiles_profile (id, status, attributes, created_at, updated_at)
            SELECT g, 'active', '{}'::jsonb, now(), now() FROM generate_series(1, %(n)s) g
        """, {"n": profiles})
        conn.execute("SELECT setval(pg_get_serial_sequence('profiles_profile', 'id'), %s)",
                     [profiles])
        # Profiles 1 .. 2 * pairs are the suspected pairs (2c - 1, 2c) sharing a phone.
        conn.execute("""
            INSERT INTO identity_identifier (profile_id, type_id, raw_value, value, is_current,
                is_unique, is_single_valued, grants_access, source, first_seen, last_seen)
            SELECT g, t.id, 'person' || g || '@example.com', 'person' || g || '@example.com',
                   true, true, false, g %% 3 = 0, 'bench', now(), now()
            FROM generate_series(1, %(n)s) g, identity_identifiertype t WHERE t.key = 'email'
            UNION ALL
            SELECT g, t.id, '+1212' || lpad(((g + 1) / 2)::text, 7, '0'),
                   '+1212' || lpad(((g + 1) / 2)::text, 7, '0'),
                   true, false, false, false, 'bench', now(), now()
            FROM generate_series(1, %(members)s) g, identity_identifiertype t
            WHERE t.key = 'phone'
            UNION ALL
            SELECT g, t.id, 'LC-' || g, 'LC-' || g, true, true, true, false, 'bench', now(),
                   now()
            FROM generate_series(1, %(n)s) g, identity_identifiertype t
            WHERE t.key = 'loyalty_card'
              AND ((g <= %(members)s AND ((g + 1) / 2 %% 5 = 0
                                          OR ((g + 1) / 2 %% 5 IN (1, 2) AND g %% 2 = 1)))
                   OR (g > %(members)s AND g %% 3 = 0))
            UNION ALL
            SELECT g, t.id, 'SC-' || g, 'SC-' || g, true, true, true, false, 'bench', now(),
                   now()
            FROM generate_series(1, %(members)s) g, identity_identifiertype t
            WHERE t.key = 'store_card'
        """, {"n": profiles, "members": pairs * 2})
        conn.execute("""
            INSERT INTO identity_duplicatecandidate (id, status, evidence, score, auto_merge,
                created_at, updated_at, blocking_codes, dismiss_reason)
            SELECT c, 'open', jsonb_build_array(jsonb_build_object(
                       'rule', 'shared_value', 'type', 'phone',
                       'value', '+1212' || lpad(c::text, 7, '0'),
                       'profiles', jsonb_build_array(2 * c - 1, 2 * c), 'score', 12)),
                   12, false, now(), now(), ARRAY[]::varchar[], ''
            FROM generate_series(1, %(n)s) c
        """, {"n": pairs})
        conn.execute("SELECT setval(pg_get_serial_sequence('identity_duplicatecandidate', 'id'),"
                     " %s)", [pairs])
        conn.execute("""
            INSERT INTO identity_candidatemember (candidate_id, profile_id)
            SELECT c, 2 * c - 1 FROM generate_series(1, %(n)s) c
            UNION ALL SELECT c, 2 * c FROM generate_series(1, %(n)s) c
        """, {"n": pairs})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def _measure():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from identity.models import DuplicateCandidate, IdentifierType
    from identity.types.impact import ChangeRefused, preview

    print(f"{DuplicateCandidate.objects.filter(status='open').count():,} open candidates")
    print(f"{'scenario':<34} {'median s':>9} {'max s':>7} {'queries':>8} {'judged':>8}  impact")
    worst = 0.0
    for name, key, changes in SCENARIOS:
        # Queries are counted in a run of their own: capturing the SQL costs time.
        type_ = IdentifierType.objects.get(key=key)
        with CaptureQueriesContext(connection) as captured:
            outcome, judged = _preview(preview, ChangeRefused, type_, changes)
        queries = len(captured)
        times = []
        for _ in range(RUNS):
            type_ = IdentifierType.objects.get(key=key)
            started = time.perf_counter()
            _preview(preview, ChangeRefused, type_, changes)
            times.append(time.perf_counter() - started)
        worst = max(worst, max(times))
        print(f"{name:<34} {statistics.median(times):>9.2f} {max(times):>7.2f} {queries:>8} "
              f"{judged:>8,}  {outcome}", flush=True)
    verdict = "meets" if worst < TARGET_SECONDS else "misses"
    print(f"slowest preview {worst:.2f} s: {verdict} the target of {TARGET_SECONDS:.0f} s")


def _preview(preview, refused_error, type_, changes):
    """(what the preview says, in a line; how many candidates it judged)."""
    try:
        found = preview(type_, changes)
    except refused_error as refused:
        return f"refused: {refused.refusal.count:,} values shared", 0
    return (f"blocked {found.blocked_total:,}, unblocked {found.unblocked_total:,}, reasons "
            f"added {sum(found.reasons_added.values()):,}, removed "
            f"{sum(found.reasons_removed.values()):,}, losing evidence "
            f"{found.losing_evidence or 0:,}, auto merges {found.auto_merges or 0:,}",
            found.judged)


if __name__ == "__main__":
    _measure()
