#!/usr/bin/env python3
"""Ember against PyTorch on the CPU, in one command.

    scripts/bench/compare.py [--filter matmul] [--markdown] [--skip-build]
    TORCH_PYTHON=/path/to/venv/bin/python scripts/bench/compare.py

Builds `swift build -c release --product ember-bench` (no extra flags: what users get), runs
it with --json, runs scripts/bench/bench_torch.py with $TORCH_PYTHON (default python3; keep
PyTorch in a virtualenv outside the repository), and prints one row per workload:
PyTorch's and Ember's medians (each with the thread count, 1 or 2, that gave its better figure),
the ratio PyTorch / Ember (> 1: Ember is faster), and GFLOP/s for the matrix products.
The two sides run alternately for --rounds rounds and each keeps its best round.
Only the standard library is needed here; neither side is run by CI or the tests.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_lines(command, env=None):
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    output = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return {record["name"]: record for record in map(json.loads, filter(str.strip, output.splitlines()))}


def human(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3)):
        if seconds < scale * 1000:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filter", default="", help="comma-separated substrings of workload names")
    parser.add_argument("--threads", default="1,2",
                        help="thread counts to try on both sides; each workload reports its better figure")
    parser.add_argument("--min-time", default="1.0", help="seconds of timed runs per workload, each side")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate Ember and PyTorch runs this many times and keep each side's best round, "
                             "so that a burst of other work on the machine does not land on one side only")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--statistic", choices=["median", "min", "both"], default="median",
                        help="which figure to compare (both: two tables); min is steadier on a machine shared with other work")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()

    if not args.skip_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "ember-bench"], cwd=ROOT, check=True)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()
    common = ["--min-time", args.min_time] + (["--filter", args.filter] if args.filter else [])
    ember_commands = [[os.path.join(bin_path, "ember-bench"), "--json", "--threads", threads] + common
                      for threads in args.threads.split(",")]
    torch_python = os.environ.get("TORCH_PYTHON", "python3")
    torch_command = [torch_python, os.path.join("scripts", "bench", "bench_torch.py"), "--threads", args.threads] + common
    statistics = ["median", "min"] if args.statistic == "both" else [args.statistic]
    keys = {"median": "seconds", "min": "min_seconds"}
    # Per statistic and side, the best figure over rounds and thread counts.
    best = {statistic: ({}, {}) for statistic in statistics}
    for _ in range(max(1, args.rounds)):
        for side, command in [(0, command) for command in ember_commands] + [(1, torch_command)]:
            for name, record in run_lines(command).items():
                for statistic in statistics:
                    table, key = best[statistic][side], keys[statistic]
                    if name not in table or record[key] < table[name][key]:
                        table[name] = record
    for statistic in statistics:
        ember, torch = best[statistic]
        print_table(ember, torch, keys[statistic], statistic, args.markdown)


def print_table(ember, torch, key, statistic, markdown):
    header = ["workload", "PyTorch (threads)", "Ember (threads)", "PyTorch/Ember", "GFLOP/s PyTorch", "GFLOP/s Ember"]
    rows = []
    for name, mine in ember.items():
        theirs = torch.get(name)
        flop = mine.get("flop")
        show_rate = flop is not None and (mine["group"] == "matmul" or "matmul" in name)
        rows.append([
            name,
            f"{human(theirs[key])} ({theirs['threads']})" if theirs else "-",
            f"{human(mine[key])} ({mine['threads']})",
            f"{theirs[key] / mine[key]:.2f}" if theirs else "-",
            f"{flop / theirs[key] / 1e9:.1f}" if show_rate and theirs else "",
            f"{flop / mine[key] / 1e9:.1f}" if show_rate else "",
        ])
    print(f"\n{statistic} time per operation; ratio = PyTorch time / Ember time; > 1 means Ember is faster.\n")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))

if __name__ == "__main__":
    main()
