"""What `radiomix benchmark` costs on the radMLBench development half with the shipped default config and the two
references (issue #27, item 5: under 1 hour on 2 cores), and that every table runs with no per-table edit.

    python benchmarks/benchmark_cost.py               # 3 repeats, each into a fresh folder
    python benchmarks/benchmark_cost.py --repeats 1

Each repeat is the command a user types, timed from outside:

    radiomix benchmark ../shared/data/radmlbench -m default -m l1_logistic -m random_forest --jobs 2 -o FRESH

(5-fold stratified CV x 2 repeats per table, the same folds for every method; one worker process per table x
method, one core each). Printed: the wall time of each repeat and their median; per method the median and total
seconds per table and the statuses; what dominates. Skipped by design in a benchmark (it scores the procedure):
the safeguards (baselines, permutations), held-out SHAP, the final model and the per-run report.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "radmlbench"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"missing {DATA}", file=sys.stderr)
        return 2
    walls, last = [], None
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bench"
            cmd = [sys.executable, "-m", "radiomix.cli", "benchmark", str(DATA), "-m", "default", "-m", "l1_logistic",
                   "-m", "random_forest", "--jobs", str(args.jobs), "-o", str(out)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            last = pd.read_csv(out / "results.csv")
            summary = (out / "summary.md").read_text()
        print(f"repeat {r + 1}: {walls[-1] / 60:.1f} min", flush=True)
    print(f"median wall time of {len(walls)} repeat(s): {statistics.median(walls) / 60:.1f} min "
          f"({last['table'].nunique()} tables x {last['method'].nunique()} methods, --jobs {args.jobs})")
    per = last.groupby("method").agg(median_s=("seconds", "median"), total_s=("seconds", "sum"),
                                     ok=("status", lambda s: int((s == "ok").sum())),
                                     not_ok=("status", lambda s: int((s != "ok").sum())))
    print("last repeat, seconds per table x method (worker time, one core each):")
    print(per.round(1).to_string())
    share = per["total_s"] / per["total_s"].sum()
    print("share of worker time: " + ", ".join(f"{m} {v:.0%}" for m, v in share.sort_values(ascending=False).items()))
    print()
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
