"""The audit history at a million entries (SPEC 12): `verify_audit` and the /audit/ page.

Fills a database of its own with 1,000,000 chained entries (four in five with a payload), hashed
exactly as merges.audit.chain hashes them and written by COPY, spread over a year, ten stewards
and the system. Then:

- runs `manage.py verify_audit` in a child process: wall time and its peak memory (targets:
  under 60 s, memory flat: the same at a tenth of the entries, `--rows 100000`);
- renders /audit/ as a viewer in a separate process through Django's test client: the first
  page, a page 200 pages deep, and each filter (actor, action, time range, profile, identifier
  value) alone and combined. Target: p95 under 100 ms, the same number of queries whatever the
  page size.

`BENCH_KEEP=1` keeps the database; `BENCH_REUSE=1` measures in a kept one of the same size.
CPU ms is this process's CPU time per request (Python, not the database's), less noisy than
wall time on a shared machine.
"""

import os
import random
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

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
    run_measured,
)

NAME = "mergeguard_bench_audit"
DEFAULT_ENTRIES = 1_000_000
STEWARDS = 10
PROFILES = 200_000
REQUESTS = 30
DEEP_PAGES = 200
TARGET_SECONDS = 60
TARGET_P95_MS = 100
START = datetime(2025, 12, 1, tzinfo=UTC)
SPREAD = timedelta(days=365)
WATCHED = 4242  # a profile with an identifier, for the identifier filter
SCENARIOS = [
    ("first page", "/audit/"),
    ("deep page (200 pages in)", None),
    ("actor", "/audit/?actor={actor}"),
    ("action: candidate dismissed", "/audit/?action=candidate.dismissed"),
    ("rare action: person erased", "/audit/?action=person.erased"),
    ("a month, mid-year", "/audit/?since=2026-05-01&until=2026-05-31"),
    ("profile", f"/audit/?profile={WATCHED}"),
    ("identifier value", "/audit/?identifier=%20Watched.Person@Example.com"),
    ("actor + action + a month", "/audit/?actor={actor}&action=identifier.edited"
                                 "&since=2026-03-01&until=2026-03-31"),
    ("system, last week of the year", "/audit/?actor=system&since=2026-11-24"),
]
ACTIONS = [
    ("candidate.claimed", 30), ("candidate.dismissed", 20), ("identifier.edited", 15),
    ("identifier.removed", 5), ("merge.requested", 10), ("merge.succeeded", 9),
    ("merge.failed", 1), ("candidate.reopened", 5), ("identifier_type.changed", 1),
    ("api_token.created", 1), ("user.roles_changed", 1), ("person.erased", 0.01),
]


def run(args):
    entries = args.rows or DEFAULT_ENTRIES
    reuse = os.environ.get("BENCH_REUSE") == "1"
    keep = reuse or os.environ.get("BENCH_KEEP") == "1"
    if reuse and (env := kept_database(NAME, "SELECT count(*) FROM merges_auditentry", entries)):
        print(f"reusing {NAME}: {entries:,} entries", flush=True)
        _measure_in(env, entries)
        return
    with bench_database(NAME, keep=keep) as (url, env):
        started = time.perf_counter()
        _fill(url, entries)
        print(f"filled {entries:,} chained audit entries in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        _measure_in(env, entries)
    if keep:
        print(f"kept database {NAME}: BENCH_REUSE=1 measures in it again", flush=True)


def _measure_in(env, entries):
    code, seconds, cpu, peak_mb, output = run_measured(
        ["manage.py", "verify_audit"], env=env, stdout=subprocess.PIPE
    )
    verdict = "meets" if code == 0 and seconds < TARGET_SECONDS else "misses"
    print(f"verify_audit over {entries:,} entries: {seconds:.1f} s wall, {cpu:.1f} s CPU, "
          f"peak {peak_mb:.0f} MB; {verdict} the target of {TARGET_SECONDS} s", flush=True)
    print(f"  it said: {output.strip()}", flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.audit"], cwd=PROJECT, env=env, check=True)


def _fill(url, entries):
    from merges.audit.chain import entry_hash, payload_hash

    rng = random.Random(14)
    codes, weights = zip(*ACTIONS, strict=True)
    step = SPREAD / entries
    with psycopg.connect(make_conninfo(url)) as conn:
        stewards = [
            conn.execute(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
                " email, is_staff, is_active, date_joined) VALUES ('!', false, %s, '', '', '',"
                " false, true, now()) RETURNING id", [f"steward{n}"],
            ).fetchone()[0]
            for n in range(STEWARDS)
        ]
        conn.execute("INSERT INTO profiles_profile (id, status, attributes, created_at, "
                     "updated_at) VALUES (%s, 'active', '{}', now(), now())", [WATCHED])
        conn.execute("""
            INSERT INTO identity_identifier (profile_id, type_id, raw_value, value, is_current,
                is_unique, is_single_valued, grants_access, source, first_seen, last_seen)
            SELECT %(id)s, id, 'watched.person@example.com', 'watched.person@example.com',
                   true, true, false, true, 'bench', now(), now()
            FROM identity_identifiertype WHERE key = 'email'
        """, {"id": WATCHED})
        conn.commit()
        previous = ""
        # A connection holds one COPY at a time: the payloads go through a second one, committed
        # after the entries (its foreign keys are checked at commit).
        payloads = psycopg.connect(make_conninfo(url))
        with conn.cursor().copy(
            "COPY merges_auditentry (id, created_at, actor_id, actor_label, action, targets,"
            " profile_ids, payload_hash, previous_hash, hash) FROM STDIN"
        ) as entry_copy, payloads.cursor().copy(
            "COPY merges_auditpayload (entry_id, salt, data) FROM STDIN"
        ) as payload_copy:
            entry_copy.set_types(["int8", "timestamptz", "int4", "text", "text", "jsonb",
                                  "int8[]", "text", "text", "text"])
            payload_copy.set_types(["int8", "text", "jsonb"])
            for pk in range(1, entries + 1):
                action = rng.choices(codes, weights)[0]
                actor = None if action in ("candidate.reopened", "merge.succeeded") or (
                    rng.random() < 0.05) else rng.choice(stewards)
                profiles = sorted({rng.randrange(1, PROFILES), rng.randrange(1, PROFILES)})
                if pk % 997 == 0:
                    profiles = sorted({*profiles, WATCHED})
                targets = {"candidate": rng.randrange(1, 100_000), "profiles": profiles}
                data = None
                if rng.random() < 0.8:
                    data = {"before": {"status": "open"},
                            "after": {"status": "dismissed", "reason": f"twins {pk}"}}
                salt = secrets.token_hex(16) if data else ""
                fields = {
                    "id": pk, "created_at": START + step * pk, "actor_id": actor,
                    "actor_label": f"steward{stewards.index(actor)}" if actor else "system",
                    "action": action, "targets": targets, "profile_ids": profiles,
                    "payload_hash": payload_hash(salt, data) if data else "",
                    "previous_hash": previous,
                }
                fields["hash"] = previous = entry_hash(**fields)
                entry_copy.write_row(list(fields.values()))
                if data:
                    payload_copy.write_row((pk, salt, data))
        conn.execute("SELECT setval(pg_get_serial_sequence('merges_auditentry', 'id'), %s)",
                     [entries])
        conn.commit()
        payloads.commit()
        payloads.close()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def _measure():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import re

    from django.contrib.auth.models import User

    from merges.roles import VIEWER

    actor = User.objects.get(username="steward3").pk
    client = logged_in_client("bench-viewer", VIEWER)

    timed = page_timer(client)

    url = "/audit/"
    for _ in range(DEEP_PAGES):
        found = re.search(r'href="(\?[^"]*)"[^>]*rel="next"', timed(url)[2])
        url = "/audit/" + found.group(1).replace("&amp;", "&")
    print(f"{'scenario':<36} {'rows':>5} {PAGE_COLUMNS}")
    worst = 0.0
    for name, scenario_url in SCENARIOS:
        target = (scenario_url or url).format(actor=actor)
        page = timed(target)[2]
        rows = page.count('<tr id="entry-')
        p95, figures = page_figures(timed, target, REQUESTS)
        worst = max(worst, p95)
        print(f"{name:<36} {rows:>5} {figures}", flush=True)
    verdict = "meets" if worst < TARGET_P95_MS else "misses"
    print(f"worst p95 {worst:.1f} ms: {verdict} the target of {TARGET_P95_MS} ms "
          "(50 rows a page; queries must not change with the page size)")


if __name__ == "__main__":
    _measure()
