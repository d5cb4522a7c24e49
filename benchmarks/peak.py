"""`python -m benchmarks.peak [-m] TARGET ARGS...`: run a script or module, then write its own
peak resident memory (VmHWM, in kB) to the file named by $BENCH_PEAK_FILE.

A child's ru_maxrss (wait4, getrusage) is no good for this: Linux carries the high-water mark of
the process image it was forked from across exec, so a benchmark that generated a million
people before starting the child reports its own size. VmHWM belongs to the new program alone.
"""

import atexit
import os
import runpy
import sys


def _record():
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(str(peak))


def main():
    atexit.register(_record)
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
