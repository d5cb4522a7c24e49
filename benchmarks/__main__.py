"""`make bench`: runs each benchmark and prints its figures. Not part of the test suite.

Each benchmark is a module of this package with a `run(args)` function; `make bench
BENCH_ARGS="import_csv --rows 100000"` runs one with smaller figures.
"""

import argparse
import importlib
import os
import sys

import django

from benchmarks import machine

BENCHMARKS = ["upsert_api", "batch_api", "import_csv", "detection", "queue", "type_preview",
              "merges", "audit", "accuracy"]
ALIASES = {"import": "import_csv"}  # make bench BENCH_ARGS=import


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--rows", type=int, help="size of the data set, where a benchmark has one")
    args = parser.parse_args()
    print(machine.describe(), flush=True)
    for name in args.names or BENCHMARKS:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{ALIASES.get(name, name)}").run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
