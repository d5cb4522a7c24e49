"""Merges (SPEC 12): the merge service's time in the worker, and linking writes to one profile.

In a database of its own:
1. two profiles with 10,000 events each, merged (target: under 1 s in the worker);
2. a 10-profile group with 1,000 events each, merged in one job (target: under 2 s);
   both timed around `execute_merge`, the one service the worker's task runs, a few times;
3. linking writes through a real Celery worker: a known profile (email) and an anonymous one
   (anonymous_id, with page views), then the login write carrying both; timed from the write's
   commit until the anonymous profile is a tombstone of the known one (target: p95 under 2 s).

`--rows N` sets how many linking writes (default 50).
"""

import os
import statistics
import subprocess
import sys
import time

from benchmarks.database import PROJECT, bench_database, empty_redis_database

NAME = "mergeguard_bench_merges"
LINKS = 50
REPEATS = 3
TARGETS = {"pair": 1.0, "group": 2.0, "link_p95": 2.0}


def run(args):
    with bench_database(NAME) as (_, env):
        env = {**env, "REDIS_URL": empty_redis_database(os.environ["REDIS_URL"])}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
             "--without-mingle", "--without-gossip", "-l", "WARNING"],
            cwd=PROJECT, env=env,
        )
        try:
            subprocess.run(
                [sys.executable, "-m", "benchmarks.merges", "--child", str(args.rows or LINKS)],
                cwd=PROJECT, env=env, check=True,
            )
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def _child(links):
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types, resolve_write
    from merges.services import execute_merge, request_merge
    from profiles.models import ProfileEvent

    def write(record, match_key, **options):  # the real write path
        payload = {"record": record, "matchKey": match_key, **options}
        return resolve_write(parse_write(payload, types=identifier_types()))

    def group(size, events, tag):
        ids = [write({"email": f"{tag}{n}@example.com", "phone": "+12125550100",
                      "first_name": f"Name{n}"}, "email").profile_id for n in range(size)]
        ProfileEvent.objects.bulk_create(
            ProfileEvent(profile_id=pk, kind="order", data={"n": n})
            for pk in ids for n in range(events)
        )
        return ids

    def timed_merge(size, events, tag):
        times = []
        for repeat in range(REPEATS):
            ids = group(size, events, f"{tag}{repeat}-")
            job = request_merge(profile_ids=ids, actor=None, survivor_id=ids[0])
            started = time.perf_counter()
            job = execute_merge(job.pk)
            times.append(time.perf_counter() - started)
            assert job.status == "succeeded", job.error
        return times

    pair = timed_merge(2, 10_000, "pair")
    print(f"merge of 2 profiles x 10,000 events: {_figures(pair, TARGETS['pair'])}")
    ten = timed_merge(10, 1_000, "group")
    print(f"merge of 10 profiles x 1,000 events: {_figures(ten, TARGETS['group'])}")
    print(_linking(links, write), flush=True)


def _linking(links, write):
    from profiles.models import Profile, ProfileEvent

    waits = []
    for n in range(links):
        known = write({"email": f"lee{n}@example.com"}, "email",
                      accessContacts=["email"]).profile_id
        anonymous = write({"anonymous_id": f"anon-{n}"}, "anonymous_id").profile_id
        ProfileEvent.objects.bulk_create(
            ProfileEvent(profile_id=anonymous, kind="page_view") for _ in range(20)
        )
        started = time.perf_counter()
        write({"email": f"lee{n}@example.com", "anonymous_id": f"anon-{n}"}, "email")
        deadline = started + 30
        while Profile.objects.filter(pk=anonymous, merged_into_id=known).count() == 0:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"linking write {n} was not merged within 30 s")
            time.sleep(0.005)
        waits.append(time.perf_counter() - started)
    p95 = statistics.quantiles(waits, n=20)[-1] if len(waits) > 1 else waits[0]
    return (f"linking write to one active profile, through the worker ({links} writes): "
            f"p50 {statistics.median(waits) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
            f"(target < {TARGETS['link_p95'] * 1000:.0f} ms: "
            f"{'met' if p95 < TARGETS['link_p95'] else 'MISSED'})")


def _figures(times, target):
    verdict = "met" if max(times) < target else "MISSED"
    return (f"{statistics.median(times) * 1000:.0f} ms median, {max(times) * 1000:.0f} ms worst "
            f"of {len(times)} (target < {target:.0f} s: {verdict})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(int(sys.argv[2]))
