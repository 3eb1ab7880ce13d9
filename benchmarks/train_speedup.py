"""Issue #17 acceptance: the leave-site-out nested CV of the issue on its table shape, timed with this radiomix
and with commit b648e5b (before the performance work), same machine, one after the other.

Table: ``benchmarks/profile_train.py``'s generator, 976 patients x 1,002 features, 6 sites with additive and
multiplicative site effects on correlated features, 3 patients without the radiomic block, 0.5 % of the
cells missing at random. Procedure (the issue's): ComBat on the radiomic block (covariate age; a held-out
site's shift estimated from its own rows), correlation filter 0.9, mRMR 30, XGBoost (200 trees, hist) with 10
random candidates on 3 inner folds, leave-one-site-out outer folds, Youden threshold; no bootstrap, no final
model, and (new code) no safeguards, so both sides do the same work.

This radiomix runs twice: with the procedure of the shipped defaults (leave-one-site-out inner folds, 200 trees)
and with the two options that trade fits for a small change of protocol (said, AUCs compared):
``cv.inner.kind: site_folds`` (the 5 training sites dealt into the issue's 3 inner folds instead of one fold per
site; b648e5b's inner folds were 3 stratified folds that ignored sites) and
``model.params.early_stopping_rounds: 20`` (each XGBoost fit holds out 20 % of its training rows and keeps the
trees up to the best validation round; at most 200).

    git worktree add /tmp/rmx_old b648e5b && python3.11 -m venv /tmp/oldvenv && /tmp/oldvenv/bin/pip install /tmp/rmx_old
    OMP_NUM_THREADS=1 python benchmarks/train_speedup.py --old-python /tmp/oldvenv/bin/python [--repeats 3]
    OMP_NUM_THREADS=1 python benchmarks/train_speedup.py --multisite [--repeats 3]

``--multisite``: the same leave-site-out run on the same table with the shipped ``params/train_multisite.yaml``
(ComBat, surrogate-tree imputation, near-zero-variance and correlation filters, mRMR 5, L2 logistic with 5
candidates, leave-one-site-out inner folds), ``n_jobs: 2`` (outer folds in 2 processes), no bootstrap, no final
model, no safeguards (as above); the issue asks for under 2 minutes on 2 cores.

Prints each side's wall time (median of ``--repeats``, run interleaved), its pooled out-of-fold AUC and the
ratio to b648e5b.
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
FAST = {"cv": {"outer": {"kind": "leave_site_out"}, "inner": {"n_splits": 3, "kind": "site_folds"}},
        "model": {"name": "xgboost", "params": {**COMMON["model"]["params"], "early_stopping_rounds": 20}}}

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


def multisite(table: Path, repeats: int) -> None:
    import yaml

    cfg = yaml.safe_load((ROOT / "params" / "train_multisite.yaml").read_text())
    cfg.update({"bootstrap": 0, "final_model": False, "random_state": 0, "n_jobs": 2, **NEW_ONLY})
    runs = [run(sys.executable, table, cfg) for _ in range(repeats)]
    each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
    print(f"params/train_multisite.yaml, n_jobs 2: {np.median([r['seconds'] for r in runs]):.1f} s (median of "
          f"{repeats}: {each} s), pooled out-of-fold AUC {runs[0]['auc']:.3f}", flush=True)


def main(argv=None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from profile_train import make_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-python", help="python of a virtual environment with b648e5b installed")
    ap.add_argument("--multisite", action="store_true", help="time the shipped multi-site configuration instead")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    table = CACHE / "speedup_976x1002.parquet"
    make_table(976, 1001, 6, 3, 0.005).to_parquet(table)
    if args.multisite:
        return multisite(table, args.repeats)
    if args.old_python is None:
        ap.error("--old-python is required (or --multisite)")
    sides = {"b648e5b": (args.old_python, COMMON),
             "this radiomix, same procedure": (sys.executable, {**COMMON, **NEW_ONLY}),
             "this radiomix, site_folds + early stopping": (sys.executable, {**COMMON, **NEW_ONLY, **FAST})}
    results = {}
    for _ in range(args.repeats):  # interleaved, so a slow spell of the shared machine hits every side
        for name, (python, cfg) in sides.items():
            results.setdefault(name, []).append(run(python, table, cfg))
    old = float(np.median([r["seconds"] for r in results["b648e5b"]]))
    print(f"{'code':<44} {'seconds':>8} {'speed-up':>9}  pooled out-of-fold AUC")
    for name, runs in results.items():
        sec = float(np.median([r["seconds"] for r in runs]))
        each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        print(f"{name:<44} {sec:8.1f} {old / sec:8.2f}x  {runs[0]['auc']:.3f}   (median of {len(runs)}: {each} s)",
              flush=True)


if __name__ == "__main__":
    main()
