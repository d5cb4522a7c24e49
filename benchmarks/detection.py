"""Full duplicate detection (SPEC 4, 12): 1,000,000 profiles in under 60 s and 500 MB.

The benchmark runs against its own database, never the project's data:

1. creates the database `mergeguard_bench_detect` on the server of DATABASE_URL and migrates it
   (`manage.py migrate` in a subprocess);
2. generates `--rows` profiles (default 1,000,000) of about 0.9 x rows people with
   benchmarks.people (fixed seed: duplicates with typos, nicknames, swapped names, date-of-birth
   typos, missing fields, moves; households sharing a landline; a shop phone on ~500 profiles;
   about 2.8 identifiers a profile)
   and loads them with COPY: profiles, identifiers (normalised with the product's normalisers),
   ProfileFeatures (from identity.matching.rules.match_features) and the truth, kept in a side table
   `bench_truth(profile_id, person_id, household_id, duplicate, noise)`; then VACUUM ANALYZE.
   The load time is printed on its own: it is not part of the target;
3. runs `identity.matching.detect.detect_all` in a subprocess (`python -m benchmarks.detection
   --detect-only`), so the peak resident set measured (from wait4) is the detection's alone;
4. prints wall time, peak memory, candidates, junk values and edges per rule;
5. evaluates the open candidates against the truth: similar-people pair precision and recall,
   shared-identifier pairs found, household pairs given a similar-people edge, group precision;
   then times incremental detection of 200 profiles at random: what a write pays to queue it
   (SPEC 12: under 20 ms) and what the worker then spends per profile;
6. drops the database, also on error.

Environment switches, for investigating:

- `BENCH_DB_NAME=<name>` uses another database name (to keep two sizes side by side);
- `BENCH_KEEP=1` keeps the database (for EXPLAIN ANALYZE); `BENCH_REUSE=1` reuses a kept one of
  the same size (candidates and junk values are cleared first) instead of loading again, and
  with `BENCH_SKIP_DETECT=1` also skips the detection, evaluating the candidates already there;
- `BENCH_CONFIG='{"match_probability": 0.9, "weights": "hand-set"}'`: changes to
  identity.matching.rules.CONFIG for this run (dataclasses.replace; linkage_keys as
  [[name, [columns], swapped], ...]);
- `BENCH_DIAG=1` also scores every blocked pair (the similar-people statement with no
  threshold, kept in the table `bench_scored`) and prints blocking recall, precision and recall
  per threshold, recall per kind of noise, the commonest comparison levels of false positives
  and of missed pairs, and examples of both with their evidence.

`python -m benchmarks detection --rows 100000` runs it at 100,000 profiles (load ~20 s); the
default 1,000,000 takes about 4 minutes to generate and load.
"""

import dataclasses
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.database import empty_redis_database, manage, run_measured

BENCH_DB = os.environ.get("BENCH_DB_NAME") or "mergeguard_bench_detect"
DEFAULT_ROWS = 1_000_000
PROJECT = Path(__file__).resolve().parent.parent

# Targets of SPEC 12 (at 1,000,000 profiles) and of the matching quality.
TARGET_SECONDS = 60
TARGET_MB = 500
TARGET_PRECISION = 0.97
TARGET_RECALL = 0.95

FEATURE_COLUMNS = ["first_name", "first_canon", "last_name", "date_of_birth", "postcode", "city",
                   "street"]
COMPARED = ["first_name", "last_name", "date_of_birth", "postcode", "city", "street"]


def run(args):
    rows = args.rows or DEFAULT_ROWS
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", BENCH_DB):
        raise ValueError(f"BENCH_DB_NAME must be a plain lower-case name, not {BENCH_DB!r}")
    admin_url = os.environ["DATABASE_URL"]
    bench_url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{BENCH_DB}"))
    env = {**os.environ, "DATABASE_URL": bench_url}
    env.pop("DEBUG", None)
    keep = os.environ.get("BENCH_KEEP") == "1"
    overrides = json.loads(os.environ.get("BENCH_CONFIG") or "{}")
    config = build_config(overrides)
    try:
        skip_detection = os.environ.get("BENCH_SKIP_DETECT") == "1"
        if os.environ.get("BENCH_REUSE") == "1" and _loaded_rows(admin_url, bench_url) == rows:
            print(f"reusing the {rows:,} profiles kept in {BENCH_DB}", flush=True)
            if not skip_detection:
                manage(env, "migrate", "--no-input")  # the schema may have moved on since
                _clear_results(bench_url)
        else:
            skip_detection = False
            _recreate_database(admin_url)
            manage(env, "migrate", "--no-input")
            _load(bench_url, rows)
        if overrides:
            print(f"configuration changes: {json.dumps(overrides)}")
        if skip_detection:
            print("evaluating the candidates of the previous run (BENCH_SKIP_DETECT=1)")
        else:
            load_before = os.getloadavg()[0]
            figures = _detect(env, overrides)
            figures["load"] = (load_before, os.getloadavg()[0])
            _report_detection(figures)
        _evaluate(bench_url, config)
        _incremental(env)
        if os.environ.get("BENCH_DIAG") == "1":
            _diagnose(bench_url, config)
    finally:
        if keep:
            print(f"kept the database {BENCH_DB} (BENCH_KEEP=1)")
        else:
            _drop_database(admin_url)


def build_config(overrides):
    """identity.matching.rules.CONFIG with the changes of BENCH_CONFIG."""
    from identity.matching.rules import CONFIG, LinkageKey

    changes = {}
    for name, value in overrides.items():
        if name == "linkage_keys":
            value = tuple(LinkageKey(key[0], tuple(key[1]), bool(key[2:] and key[2]))
                          for key in value)
        changes[name] = value
    return dataclasses.replace(CONFIG, **changes)


# -- loading ----------------------------------------------------------------------------------


def _load(bench_url, rows):
    from benchmarks.people import Generator
    from identity.matching.rules import match_features

    started = time.perf_counter()
    generator = Generator(rows)
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        types = {key: (pk, unique, single) for key, pk, unique, single in conn.execute(
            "SELECT key, id, \"unique\", single_valued FROM identity_identifiertype")}
        conn.execute("""
            CREATE TABLE bench_truth (profile_id bigint PRIMARY KEY, person_id bigint NOT NULL,
                                      household_id bigint, duplicate boolean NOT NULL,
                                      noise text[] NOT NULL)""")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    identifiers = 0
    with ExitStack() as stack:
        # One COPY per table, each on its own connection, fed row by row as profiles are made.
        # The rows are consistent by construction: foreign-key triggers are off for these
        # sessions (superuser), and the profiles commit last-entered-first-out, i.e. first.
        copies = {}
        for table, columns in [
            ("bench_truth", "profile_id, person_id, household_id, duplicate, noise"),
            ("identity_profilefeatures", "profile_id, " + ", ".join(FEATURE_COLUMNS)),
            ("identity_identifier", "profile_id, type_id, raw_value, value, is_current, "
                                    "is_unique, is_single_valued, grants_access, source, "
                                    "first_seen, last_seen"),
            ("profiles_profile", "id, status, attributes, created_at, updated_at"),
        ]:
            conn = stack.enter_context(psycopg.connect(make_conninfo(bench_url)))
            conn.execute("SET session_replication_role = replica")
            copies[table] = stack.enter_context(
                conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN"))
        for index, profile in enumerate(generator):
            pk = index + 1
            seen = base + timedelta(seconds=index * 20)
            stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            attributes = {name: {"v": value, "t": stamp}
                          for name, value in profile.attributes.items()}
            copies["profiles_profile"].write_row(
                (pk, "active", json.dumps(attributes), seen, seen))
            for key, raw, value, current, access, source in profile.identifiers:
                type_id, unique, single = types[key]
                copies["identity_identifier"].write_row(
                    (pk, type_id, raw, value, current, unique, single, access, source, seen,
                     seen))
            identifiers += len(profile.identifiers)
            features = match_features(attributes)
            copies["identity_profilefeatures"].write_row(
                (pk, *(features[c] for c in FEATURE_COLUMNS)))
            copies["bench_truth"].write_row(
                (pk, profile.person, profile.household, profile.duplicate, profile.noise))
            if pk % 200_000 == 0:
                print(f"  generated {pk:,} profiles in {time.perf_counter() - started:.0f} s",
                      flush=True)
    copied = time.perf_counter()
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        conn.execute("SELECT setval(pg_get_serial_sequence('profiles_profile', 'id'), %s)",
                     [rows])
        conn.execute("CREATE INDEX ON bench_truth (person_id)")
        conn.execute("CREATE INDEX ON bench_truth (household_id)")
        conn.execute("VACUUM ANALYZE")
    people = len(generator.people)
    households = generator.counters["household"]
    print(f"loaded {rows:,} profiles of {people:,} people ({households:,} two-person households)"
          f", {identifiers:,} identifiers ({identifiers / rows:.2f} a profile) in "
          f"{time.perf_counter() - started:.0f} s (generate + COPY {copied - started:.0f} s, "
          f"VACUUM ANALYZE {time.perf_counter() - copied:.0f} s); not part of the target",
          flush=True)


def _loaded_rows(admin_url, bench_url):
    with _admin_connection(admin_url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [BENCH_DB]).fetchone():
            return None
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        if not conn.execute("SELECT to_regclass('bench_truth')").fetchone()[0]:
            return None
        return conn.execute("SELECT count(*) FROM bench_truth").fetchone()[0]


def _clear_results(bench_url):
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        conn.execute("TRUNCATE identity_candidatemember, identity_duplicatecandidate, "
                     "identity_junkvalue CASCADE")
        conn.execute("VACUUM ANALYZE identity_duplicatecandidate, identity_candidatemember")


# -- detection (in its own process) -------------------------------------------------------------


def _detect(env, overrides):
    """Run detect_all in a subprocess; its figures with wall time and peak RSS."""
    code, seconds, _, peak_mb, output = run_measured(
        ["-m", "benchmarks.detection", "--detect-only"],
        env={**env, "BENCH_CONFIG": json.dumps(overrides)}, stdout=subprocess.PIPE,
    )
    if code:
        raise RuntimeError(f"detection exited with {code}")
    lines = [line for line in output.splitlines() if line.startswith("FIGURES ")]
    figures = json.loads(lines[-1].removeprefix("FIGURES "))
    figures.update(process_seconds=seconds, peak_mb=peak_mb)
    return figures


def _detect_only():
    """The child: detect_all over DATABASE_URL, stage times on stderr, figures on stdout."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.utils import timezone

    from identity.matching.detect import detect_all
    from identity.models import DetectionRun

    config = build_config(json.loads(os.environ.get("BENCH_CONFIG") or "{}"))
    stages = []
    started = time.perf_counter()

    def progress(stage, percent):
        now = time.perf_counter() - started
        stages.append([stage, round(now, 2)])
        print(f"  {now:6.1f} s  {percent:3d}%  {stage}", file=sys.stderr, flush=True)

    figures = detect_all(config=config, progress=progress)
    figures["seconds"] = time.perf_counter() - started
    # Kept as a full run keeps them: incremental detection below uses the weights it learned.
    weights = figures.pop("weights")
    DetectionRun.objects.create(status=DetectionRun.Status.SUCCEEDED, weights=weights,
                                progress=100, finished_at=timezone.now())
    figures["weights_note"] = weights["note"]
    figures["stages"] = stages
    print("FIGURES " + json.dumps(figures), flush=True)


INCREMENTAL_SAMPLE = 200


def _incremental(env):
    """Time incremental detection (SPEC 12: under 20 ms added to a write), in a subprocess."""
    # An empty Redis database: the pending set of the project's own writes is not touched.
    env = {**env, "REDIS_URL": empty_redis_database(os.environ["REDIS_URL"])}
    done = subprocess.run([sys.executable, "-m", "benchmarks.detection", "--incremental"],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"incremental detection failed:\n{done.stdout}{done.stderr}")
    print(done.stdout, end="")


def _incremental_only():
    """The child: what a write pays to queue detection, and what the worker then spends."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection, transaction

    from identity.matching.detect import detect_for_profiles
    from identity.matching.pending import SCHEDULED_KEY, leave_for_detection

    with psycopg.connect(make_conninfo(os.environ["DATABASE_URL"])) as conn:
        (count,) = conn.execute("SELECT count(*) FROM profiles_profile").fetchone()
    profile_ids = random.Random(7).sample(range(1, count + 1), INCREMENTAL_SAMPLE)
    client = redis.Redis.from_url(settings.REDIS_URL)
    # A queued task's mark set first: no task is sent to a worker that serves another database.
    client.set(SCHEDULED_KEY, 1, px=60_000)
    queueing, detecting = [], []
    try:
        for pk in profile_ids:
            started = time.perf_counter()
            with transaction.atomic():
                leave_for_detection([pk])
            queueing.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            detect_for_profiles([pk])
            detecting.append((time.perf_counter() - started) * 1000)
    finally:
        client.delete(SCHEDULED_KEY)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM identity_pendingdetection")
    write_p95 = statistics.quantiles(queueing, n=20)[-1]
    print(f"incremental detection ({INCREMENTAL_SAMPLE} profiles at random, one at a time):")
    print(f"  added to the write  p50 {statistics.median(queueing):.2f} ms, p95 "
          f"{write_p95:.2f} ms (leave_for_detection and its commit; "
          f"{_verdict(write_p95 < 20)} < 20 ms)")
    print(f"  in the worker       p50 {statistics.median(detecting):.1f} ms, p95 "
          f"{statistics.quantiles(detecting, n=20)[-1]:.1f} ms, max {max(detecting):.1f} ms "
          f"(detect_for_profiles of one profile's component)")


def _report_detection(figures):
    seconds, peak = figures["seconds"], figures["peak_mb"]
    stages = figures["stages"]
    spans = [f"{stage} {end - start:.1f} s" for (stage, start), (_, end)
             in zip(stages, stages[1:], strict=False)]
    print(f"detection wall time:  {seconds:.1f} s in detect_all, {figures['process_seconds']:.1f}"
          f" s for the process ({_verdict(seconds < TARGET_SECONDS)} < {TARGET_SECONDS} s)")
    print(f"  stages:             {'; '.join(spans)}")
    print(f"peak RSS:             {peak:,.0f} MB ({_verdict(peak < TARGET_MB)} < {TARGET_MB} MB)")
    print(f"machine load:         {figures['load'][0]:.1f} before, {figures['load'][1]:.1f} after "
          f"(1-minute load average on {os.cpu_count()} cores; other work slows the timing)")
    print(f"weights:              {figures.get('weights_note')}; threshold "
          f"{figures.get('threshold')}")
    print(f"groups / created:     {figures.get('groups', 0):,} / {figures.get('created', 0):,}")
    print(f"junk values:          {figures.get('junk_values', 0):,}")
    print(f"edges:                shared_value {figures.get('shared_value_edges', 0):,}, "
          f"collision {figures.get('collision_edges', 0):,}, "
          f"similar_people {figures.get('similar_people_edges', 0):,}")


def _verdict(ok):
    return "meets" if ok else "MISSES"


def _ratio(part, whole):
    return part / whole if whole else 1.0


# -- evaluation ---------------------------------------------------------------------------------

EVALUATION_TABLES = """
    CREATE TEMP TABLE cand AS
        SELECT id, evidence FROM identity_duplicatecandidate WHERE status = 'open';
    CREATE TEMP TABLE member AS
        SELECT m.candidate_id, m.profile_id FROM identity_candidatemember m
        JOIN cand ON cand.id = m.candidate_id;
    ANALYZE member;
    -- Pairs of profiles in one open candidate, and pairs with a similar-people edge.
    CREATE TEMP TABLE together AS
        SELECT DISTINCT m1.profile_id AS a, m2.profile_id AS b
        FROM member m1
        JOIN member m2 ON m2.candidate_id = m1.candidate_id AND m1.profile_id < m2.profile_id;
    CREATE UNIQUE INDEX ON together (a, b);
    ANALYZE together;
    CREATE TEMP TABLE pred AS
        SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b FROM (
            SELECT (e -> 'profiles' ->> 0)::bigint AS a, (e -> 'profiles' ->> 1)::bigint AS b
            FROM cand, jsonb_array_elements(cand.evidence) e
            WHERE e ->> 'rule' = 'similar_people') s;
    CREATE UNIQUE INDEX ON pred (a, b);
    ANALYZE pred;
    -- Every pair of profiles of one person, with what the detection made of it.
    CREATE TEMP TABLE truth_pairs AS
        SELECT x.profile_id AS a, y.profile_id AS b,
               ((fa.first_name IS NOT NULL AND fb.first_name IS NOT NULL)
                 OR (fa.last_name IS NOT NULL AND fb.last_name IS NOT NULL))
               AND ((fa.date_of_birth IS NOT NULL AND fb.date_of_birth IS NOT NULL)
                    OR (fa.postcode IS NOT NULL AND fb.postcode IS NOT NULL)) AS comparable,
               g.a IS NOT NULL AS same_candidate, p.a IS NOT NULL AS similar_edge,
               ARRAY(SELECT DISTINCT unnest(x.noise || y.noise)) AS noise
        FROM bench_truth x
        JOIN bench_truth y ON y.person_id = x.person_id AND x.profile_id < y.profile_id
        JOIN identity_profilefeatures fa ON fa.profile_id = x.profile_id
        JOIN identity_profilefeatures fb ON fb.profile_id = y.profile_id
        LEFT JOIN together g ON g.a = x.profile_id AND g.b = y.profile_id
        LEFT JOIN pred p ON p.a = x.profile_id AND p.b = y.profile_id;
    CREATE UNIQUE INDEX ON truth_pairs (a, b);
    ANALYZE truth_pairs;
    CREATE TEMP TABLE household_pairs AS
        SELECT x.profile_id AS a, y.profile_id AS b FROM bench_truth x
        JOIN bench_truth y ON y.household_id = x.household_id
             AND x.person_id <> y.person_id AND x.profile_id < y.profile_id;
    ANALYZE household_pairs;
"""

SHARED_PAIRS = """
    WITH vals AS (
        SELECT t.key, i.value, array_agg(DISTINCT i.profile_id) AS ids
        FROM identity_identifier i
        JOIN identity_identifiertype t ON t.id = i.type_id AND t.matchable
        GROUP BY t.key, i.value
        HAVING count(DISTINCT i.profile_id) BETWEEN 2 AND %(junk)s
    ), pairs AS (
        SELECT DISTINCT x AS a, y AS b FROM vals, unnest(ids) x, unnest(ids) y WHERE x < y
    )
    SELECT count(*), count(g.a), count(*) FILTER (WHERE ta.person_id = tb.person_id),
           count(*) FILTER (WHERE ta.household_id = tb.household_id
                            AND ta.person_id <> tb.person_id)
    FROM pairs
    LEFT JOIN together g USING (a, b)
    JOIN bench_truth ta ON ta.profile_id = pairs.a
    JOIN bench_truth tb ON tb.profile_id = pairs.b
"""


def _evaluate(bench_url, config):
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        conn.execute(EVALUATION_TABLES)
        predicted, right = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE ta.person_id = tb.person_id)
            FROM pred JOIN bench_truth ta ON ta.profile_id = pred.a
            JOIN bench_truth tb ON tb.profile_id = pred.b""").fetchone()
        true, found, comparable, comparable_found, any_rule = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE similar_edge),
                   count(*) FILTER (WHERE comparable),
                   count(*) FILTER (WHERE comparable AND similar_edge),
                   count(*) FILTER (WHERE same_candidate)
            FROM truth_pairs""").fetchone()
        silent, silent_found = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE same_candidate) FROM truth_pairs
            WHERE 'no_shared_identifier' = ANY(noise) AND NOT 'shares_identifier' = ANY(noise)
        """).fetchone()
        shared, shared_found, shared_same, shared_household = conn.execute(
            SHARED_PAIRS, {"junk": config.junk_limit}).fetchone()
        households, household_similar, household_together = conn.execute("""
            SELECT count(*), count(p.a), count(g.a) FROM household_pairs h
            LEFT JOIN pred p USING (a, b) LEFT JOIN together g USING (a, b)""").fetchone()
        candidates, pure, pure_by_size, sizes, household_groups = _groups(conn)
        junk = conn.execute("""
            SELECT t.key, j.value, j.profiles FROM identity_junkvalue j
            JOIN identity_identifiertype t ON t.id = j.type_id ORDER BY j.profiles DESC
            LIMIT 5""").fetchall()

    precision = _ratio(right, predicted)
    recall = _ratio(found, true)
    fair = _ratio(comparable_found, comparable)
    print(f"junk values found:    {', '.join(f'{k} {v} ({n} profiles)' for k, v, n in junk)}")
    print(f"similar people pairs: {predicted:,} predicted, {right:,} of them one person")
    print(f"  precision           {precision:.4f} "
          f"({_verdict(precision >= TARGET_PRECISION)} >= {TARGET_PRECISION})")
    print(f"  recall, all true pairs (every pair of profiles of one person): {recall:.4f} "
          f"= {found:,} / {true:,} ({_verdict(recall >= TARGET_RECALL)} >= {TARGET_RECALL})")
    print(f"  recall, comparable pairs (both hold a first or last name, and both a date of "
          f"birth or postcode): {fair:.4f} = {comparable_found:,} / {comparable:,} "
          f"({_verdict(fair >= TARGET_RECALL)} >= {TARGET_RECALL})")
    print(f"true pairs in one open candidate by any rule: {_ratio(any_rule, true):.4f} = "
          f"{any_rule:,} / {true:,}; of pairs sharing no identifier: "
          f"{_ratio(silent_found, silent):.4f} = {silent_found:,} / {silent:,}")
    print(f"shared-identifier pairs in one candidate: {shared_found:,} / {shared:,} "
          f"({_verdict(shared_found == shared)} every pair; {shared_same:,} of them one person, "
          f"{shared_household:,} household members)")
    print(f"household pairs:      {households:,}; with a similar-people edge: "
          f"{household_similar:,} (should be few); in one candidate: {household_together:,}")
    print(f"group precision:      {_ratio(pure, candidates):.4f} = {pure:,} / {candidates:,} "
          f"open candidates whose members are all one person")
    print(f"  {household_groups:,} of the {candidates - pure:,} mixed candidates are exactly one "
          f"household (linked by its shared landline: a steward dismisses them); without them "
          f"{_ratio(pure, candidates - household_groups):.4f}")
    print("  by size:            " + ", ".join(
        f"{size}: {pure_by_size[size]:,}/{count:,}" for size, count in sorted(sizes.items())))


def _groups(conn):
    """(candidates, pure ones, pure by size, all by size, households): a candidate is pure when
    its members are all one person, a household when they are the people of one household."""
    rows = conn.execute("""
        SELECT count(*), count(DISTINCT t.person_id),
               count(t.household_id) = count(*) AND count(DISTINCT t.household_id) = 1
        FROM member m JOIN bench_truth t ON t.profile_id = m.profile_id
        GROUP BY m.candidate_id""").fetchall()
    sizes = Counter(size for size, _, _ in rows)
    pure_by_size = Counter(size for size, people, _ in rows if people == 1)
    households = sum(1 for _, people, household in rows if people > 1 and household)
    return len(rows), sum(pure_by_size.values()), pure_by_size, sizes, households


# -- diagnostics (BENCH_DIAG=1) -------------------------------------------------------------------


def _diagnose(bench_url, config):
    """Score every blocked pair (no threshold) and look at what the threshold keeps.

    The scored pairs stay in the table `bench_scored` (levels, weights, truth) for a closer look.
    """
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    from identity.matching.detect import similar_people_sql
    from identity.matching.weights import Weights

    started = time.perf_counter()
    # The weights of the bench database's last run (this process's Django is set up on the
    # project's database, not the bench one).
    with psycopg.connect(make_conninfo(bench_url)) as conn:
        stored = conn.execute("""
            SELECT weights FROM identity_detectionrun
            WHERE status = 'succeeded' AND weights <> '{}'
            ORDER BY finished_at DESC LIMIT 1""").fetchone()
    weights = Weights.from_json(stored[0]) if stored else config.hand_set
    threshold = config.threshold_for(weights)
    sql, params = similar_people_sql(dataclasses.replace(config, threshold=-1e9), None, weights)
    with psycopg.connect(make_conninfo(bench_url), autocommit=True) as conn:
        conn.execute(EVALUATION_TABLES)
        conn.execute("DROP TABLE IF EXISTS bench_scored")
        conn.execute("""
            CREATE TABLE bench_scored (a bigint, b bigint, score float, levels text[],
                                       weights float[], same boolean, household boolean,
                                       PRIMARY KEY (a, b))""")
        # A named cursor and a COPY cannot share a connection: read on a second one.
        with psycopg.connect(make_conninfo(bench_url)) as reader:
            reader.execute("SET cursor_tuple_fraction = 1")
            reader.execute("SET jit = off")
            with reader.cursor(name="scored") as source:
                source.itersize = 20_000
                source.execute(sql, params)
                with conn.cursor().copy(
                        "COPY bench_scored (a, b, score, levels, weights) FROM STDIN") as sink:
                    for row in source:
                        levels = [row[3 + i * 4] for i in range(len(COMPARED))]
                        weights = [float(row[4 + i * 4]) for i in range(len(COMPARED))]
                        sink.write_row((row[0], row[1], float(row[2]), levels, weights))
        conn.execute("""
            UPDATE bench_scored s SET same = ta.person_id = tb.person_id,
                   household = ta.household_id = tb.household_id AND ta.person_id <> tb.person_id
            FROM bench_truth ta, bench_truth tb
            WHERE ta.profile_id = s.a AND tb.profile_id = s.b""")
        conn.execute("UPDATE bench_scored SET household = false WHERE household IS NULL")
        conn.execute("ANALYZE bench_scored")
        blocked = conn.execute("SELECT count(*) FROM bench_scored").fetchone()[0]
        print(f"\n-- diagnostics: {blocked:,} blocked pairs scored in "
              f"{time.perf_counter() - started:.0f} s (kept in the table bench_scored)")
        true, true_blocked, comparable, comparable_blocked = conn.execute("""
            SELECT count(*), count(s.a), count(*) FILTER (WHERE comparable),
                   count(s.a) FILTER (WHERE comparable)
            FROM truth_pairs t LEFT JOIN bench_scored s USING (a, b)""").fetchone()
        print(f"blocking recall: {_ratio(true_blocked, true):.4f} of all true pairs "
              f"({true - true_blocked:,} never blocked), "
              f"{_ratio(comparable_blocked, comparable):.4f} of comparable ones")
        print("threshold  predicted  precision  recall(all)  recall(comparable)  households")
        for cut in sorted({threshold, *(round(threshold) + d for d in range(-10, 11, 2))}):
            kept, right, households, fair = conn.execute("""
                SELECT count(*), count(*) FILTER (WHERE same),
                       count(*) FILTER (WHERE household),
                       count(*) FILTER (WHERE same AND t.comparable)
                FROM bench_scored s LEFT JOIN truth_pairs t USING (a, b)
                WHERE score >= %s""", [cut]).fetchone()
            marker = " <- in use" if cut == threshold else ""
            print(f"{cut:9}  {kept:9,}  {_ratio(right, kept):9.4f}  "
                  f"{_ratio(right, true):11.4f}  {_ratio(fair, comparable):18.4f}  "
                  f"{households:10,}{marker}")
        print("recall per kind of noise (pairs carrying it; blocked / found by similar people):")
        for kind, count, kind_blocked, kept in conn.execute("""
                SELECT k, count(*), count(s.a), count(*) FILTER (WHERE s.score >= %s)
                FROM truth_pairs t CROSS JOIN unnest(t.noise) k
                LEFT JOIN bench_scored s USING (a, b)
                GROUP BY k ORDER BY count(*) FILTER (WHERE s.score >= %s)::float / count(*)
        """, [threshold, threshold]):
            print(f"  {kind:24} {count:8,}  blocked {_ratio(kind_blocked, count):.3f}  "
                  f"found {_ratio(kept, count):.3f}")
        print("false positives by comparison levels (first, last, dob, postcode, city, street):")
        for levels, count, households in conn.execute("""
                SELECT levels, count(*), count(*) FILTER (WHERE household) FROM bench_scored
                WHERE NOT same AND score >= %s GROUP BY levels ORDER BY count(*) DESC LIMIT 12
        """, [threshold]):
            print(f"  {count:7,} ({households:,} households)  {' '.join(levels)}")
        print("missed true pairs (blocked, under the threshold) by comparison levels:")
        for levels, count in conn.execute("""
                SELECT levels, count(*) FROM bench_scored
                WHERE same AND score < %s GROUP BY levels ORDER BY count(*) DESC LIMIT 12
        """, [threshold]):
            print(f"  {count:7,}  {' '.join(levels)}")
        _examples(conn, "false positives that are not households (kept, different people)", """
            SELECT s.a, s.b, s.score, s.levels, s.weights, 'not one person'
            FROM bench_scored s WHERE NOT same AND NOT household AND score >= %s
            ORDER BY score DESC LIMIT 8""", [threshold])
        _examples(conn, "false negatives (blocked, one person, under the threshold)", """
            SELECT s.a, s.b, s.score, s.levels, s.weights, t.noise
            FROM bench_scored s JOIN truth_pairs t USING (a, b)
            WHERE same AND score < %s AND t.comparable ORDER BY random() LIMIT 8""",
                  [threshold])
        _examples(conn, "never blocked (comparable true pairs)", """
            SELECT t.a, t.b, NULL, NULL, NULL, t.noise FROM truth_pairs t
            LEFT JOIN bench_scored s USING (a, b) WHERE s.a IS NULL AND t.comparable
            ORDER BY random() LIMIT 8""", [])


def _examples(conn, title, sql, params):
    conn.execute("SELECT setseed(0.42)")
    rows = conn.execute(sql, params).fetchall()
    print(f"{title}:")
    for a, b, score, levels, weights, extra in rows:
        features = conn.execute(f"""
            SELECT profile_id, {", ".join(COMPARED)} FROM identity_profilefeatures
            WHERE profile_id IN (%s, %s) ORDER BY profile_id""", [a, b]).fetchall()
        head = f"  {a}-{b}" + (f" score {score:.1f}" if score is not None else "")
        print(f"{head} {extra}")
        if levels:
            print("    " + ", ".join(f"{name} {level} {weight:+.1f}" for name, level, weight
                                     in zip(COMPARED, levels, weights, strict=True)))
        for row in features:
            print("    " + " | ".join(str(v) if v is not None else "-" for v in row))


# -- database -----------------------------------------------------------------------------------


def _admin_connection(admin_url):
    return psycopg.connect(make_conninfo(admin_url), autocommit=True)


def _recreate_database(admin_url):
    with _admin_connection(admin_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB} TEMPLATE template0 ENCODING 'UTF8'")


def _drop_database(admin_url):
    try:
        with _admin_connection(admin_url) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    except psycopg.Error as error:
        print(f"could not drop {BENCH_DB}: {error}", file=sys.stderr)




if __name__ == "__main__":
    if "--detect-only" in sys.argv:
        _detect_only()
    elif "--incremental" in sys.argv:
        _incremental_only()
    else:
        raise SystemExit("run it as: python -m benchmarks detection [--rows N]")
