"""Issue #17 acceptance: the leave-site-out nested CV of the issue on its table shape, timed with this radiomix
and with commit b648e5b (before the performance work), same machine, one after the other.

Table: ``benchmarks/profile_train.py``'s generator, 976 patients x 1,002 features, 6 sites with additive and
multiplicative site effects on correlated features, 3 patients without the radiomic block, 0.5 % of the
cells missing at random. Procedure (the issue's): ComBat on the radiomic block (covariate age; a held-out
site's shift estimated from its own rows), correlation filter 0.9, mRMR 30, XGBoost (200 trees, hist) with 10
random candidates on 3 inner folds, leave-one-site-out outer folds, Youden threshold; no bootstrap, no final
model, and (new code) no safeguards, so both sides do the same work.

    git worktree add /tmp/rmx_old b648e5b && python3.11 -m venv /tmp/oldvenv && /tmp/oldvenv/bin/pip install /tmp/rmx_old
    OMP_NUM_THREADS=1 python benchmarks/train_speedup.py --old-python /tmp/oldvenv/bin/python [--repeats 3]

Prints each side's wall time (median of ``--repeats``), its pooled out-of-fold AUC and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".radiomix-cache" / "benchmarks"

COMMON = {"target": "outcome", "batch": "site",
          "harmonize": {"method": "combat", "covariates": ["age"], "unseen": "estimate"},
          "select": {"correlation_threshold": 0.9, "mrmr": 30},
          "model": {"name": "xgboost", "params": {"n_estimators": 200, "tree_method": "hist", "n_jobs": 1}},
          "search": {"n_candidates": 10}, "cv": {"outer": {"kind": "leave_site_out"}, "inner": {"n_splits": 3}},
          "bootstrap": 0, "final_model": False, "random_state": 0, "n_jobs": 1}
NEW_ONLY = {"safeguards": {"baselines": False, "shap": False, "permutations": 0}}

RUN = """
import json, sys, time, warnings
import pandas as pd
from radiomix.train import train
cfg = json.loads(sys.argv[2])
table = pd.read_parquet(sys.argv[1])
warnings.simplefilter("ignore")
t0 = time.perf_counter()
res = train(table, cfg, progress=False, report=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "auc": res.summary["auc"]["estimate"]}))
"""


def run(python: str, table: Path, cfg: dict) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as empty:  # neither checkout shadows the interpreter's own radiomix
        out = subprocess.run([python, "-c", RUN, str(table), json.dumps(cfg)], capture_output=True, text=True,
                             cwd=empty)
    if out.returncode != 0:
        raise RuntimeError(f"{python}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from profile_train import make_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-python", required=True, help="python of a virtual environment with b648e5b installed")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    table = CACHE / "speedup_976x1002.parquet"
    make_table(976, 1001, 6, 3, 0.005).to_parquet(table)
    sides = {"b648e5b": (args.old_python, COMMON), "this radiomix": (sys.executable, {**COMMON, **NEW_ONLY})}
    results = {}
    for name, (python, cfg) in sides.items():
        runs = [run(python, table, cfg) for _ in range(args.repeats)]
        results[name] = {"seconds": float(np.median([r["seconds"] for r in runs])), "auc": runs[0]["auc"]}
        print(f"{name:<14} {results[name]['seconds']:7.1f} s (median of {args.repeats}), pooled out-of-fold AUC "
              f"{results[name]['auc']:.3f}", flush=True)
    print(f"speed-up {results['b648e5b']['seconds'] / results['this radiomix']['seconds']:.2f}x")


if __name__ == "__main__":
    main()
