"""Run-to-run spread of asv results: how far apart repeated runs of the same code are.

Usage::

    python spread.py RUN1.json RUN2.json [RUN3.json ...] [--top 20] [-b REGEX]

Each file is an asv result file (``results*/MACHINE/COMMIT-ENV.json``) of the
same code and profile, saved by separate ``asv run`` invocations (copy the
file away after each run: a new run of the same commit overwrites it).  For
every benchmark entry (benchmark and parameter combination) present in all
files, the spread is max / min of its values across the runs; 1.20 means the
slowest run was 20% slower than the fastest, so a 20% regression would not
stand out from that entry's noise.  Entries whose value is n/a, failed or
skipped in any run are left out.  Prints a summary per group (one thread,
two threads, no thread parameter) and the worst entries.
"""

import argparse
import itertools
import json
import re
import statistics
import sys


def entries(path):
    """``{entry name: value}`` of one result file (one value per parameter combination)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    columns = data["result_columns"]
    out = {}
    for name, row in data["results"].items():
        row = dict(zip(columns, row))
        values = row["result"]
        params = row.get("params") or []
        if not params:
            combos = [()]
        else:
            combos = list(itertools.product(*params))
        if values is None:
            continue
        for combo, value in zip(combos, values):
            if value is None or value != value:  # n/a, failed, or nan
                continue
            key = f"{name}({', '.join(combo)})" if combo else name
            out[key] = (value, combo)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=20, help="how many of the worst entries to list")
    parser.add_argument("-b", "--bench", default="", help="only entries matching this regex")
    parser.add_argument("--threshold", type=float, default=1.2,
                        help="count the entries whose spread is at least this")
    args = parser.parse_args(argv)
    if len(args.files) < 2:
        parser.error("give at least two result files")
    runs = [entries(path) for path in args.files]
    names = sorted(set.intersection(*(set(run) for run in runs)))
    names = [name for name in names if re.search(args.bench, name)]
    spreads = []
    for name in names:
        values = [run[name][0] for run in runs]
        if min(values) <= 0:
            continue
        spreads.append((max(values) / min(values), name, values))
    if not spreads:
        sys.exit("no entry is present in every file")
    spreads.sort(reverse=True)

    def threads(name):
        # n_threads is the last parameter of every benchmark that has one.
        found = re.search(r", (\d+)\)$", name)
        if "n_threads" not in _PARAM_NAMES.get(name.split("(")[0], ()) or not found:
            return "no n_threads parameter"
        return "n_threads=1" if found.group(1) == "1" else f"n_threads={found.group(1)}"

    groups = {}
    for spread, name, _ in spreads:
        groups.setdefault(threads(name), []).append(spread)
    print(f"{len(spreads)} entries in {len(args.files)} runs; spread = max/min across runs")
    print(f"{'group':<24} {'entries':>7} {'median':>7} {'p90':>7} {'worst':>7} "
          f"{'>=' + format(args.threshold, 'g'):>7}")
    for key in sorted(groups):
        values = sorted(groups[key])
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        over = sum(value >= args.threshold for value in values)
        print(f"{key:<24} {len(values):>7} {statistics.median(values):>7.2f} {p90:>7.2f} "
              f"{values[-1]:>7.2f} {over:>7}")
    print(f"\nworst {min(args.top, len(spreads))}:")
    for spread, name, values in spreads[: args.top]:
        shown = " ".join(f"{value:.3g}" for value in values)
        print(f"{spread:6.2f}  {name}  [{shown}]")


_PARAM_NAMES = {}


def _load_param_names():
    """Benchmark name -> its param_names, from benchmarks.json beside the results."""
    import glob
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    for path in glob.glob(os.path.join(here, "results*", "benchmarks.json")):
        with open(path, encoding="utf-8") as f:
            for name, info in json.load(f).items():
                if isinstance(info, dict):
                    _PARAM_NAMES[name] = tuple(info.get("param_names", ()))


if __name__ == "__main__":
    _load_param_names()
    main()
