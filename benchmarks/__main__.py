"""`make bench`: runs each benchmark and prints its figures. Not part of the test suite."""

import argparse
import os
import sys

import django

BENCHMARKS = {}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {sorted(BENCHMARKS)})"
    )
    args = parser.parse_args()
    names = args.names or sorted(BENCHMARKS)
    if not names:
        print("No benchmarks yet.")
        return 0
    for name in names:
        print(f"== {name}")
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
