"""Issue #17 acceptance: a 100-permutation test of a 5-fold nested CV (3 inner folds, 10 candidates) on a
300 x 1,000 table with mRMR + XGBoost, on the 2-core machine.

    OMP_NUM_THREADS=1 python benchmarks/permutation_speed.py [--permutations 100] [--n-jobs 2]

Table: ``benchmarks/profile_train.py``'s generator (300 patients x 1,000 correlated features, one site, no
missing cells, a binary outcome from 5 of the features). Procedure: stratified 5-fold outer CV, mRMR 20,
XGBoost (at most 200 trees, hist) with 10 random candidates on 3 inner folds, Youden threshold; no baselines,
no SHAP, no bootstrap, no final model. First one nested CV alone, serially (``n_jobs: 1``), with every XGBoost
fit growing its 200 trees and then with ``early_stopping_rounds: 20`` (the issue's "XGBoost fits must get
cheaper"; each fit holds out 20 % of its training rows), then the whole run with the permutation test
(``safeguards.permutations``; the permutations run in parallel, ``n_jobs: 2``, one XGBoost thread each; their
refits skip the threshold, bootstrap and final model). Prints the seconds of each and the permutation p-value.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

CFG = {"target": "outcome", "select": {"mrmr": 20},
       "model": {"name": "xgboost", "params": {"n_estimators": 200, "tree_method": "hist", "n_jobs": 1}},
       "search": {"n_candidates": 10}, "cv": {"outer": {"n_splits": 5}, "inner": {"n_splits": 3}},
       "bootstrap": 0, "final_model": False, "random_state": 0, "n_jobs": 1,
       "safeguards": {"baselines": False, "shap": False, "permutations": 0}}


def timed(table, cfg) -> tuple[float, dict]:
    from radiomix.train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = train(table, cfg, progress=False, report=False)
    return time.perf_counter() - t0, res.summary


def main(argv=None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from profile_train import make_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    table = make_table(300, 999, 1, 0, 0.0).drop(columns="site")
    stop = {"model": {"name": "xgboost", "params": {**CFG["model"]["params"], "early_stopping_rounds": 20}}}
    sec_full, s_full = timed(table, CFG)
    print(f"one nested CV, 200 trees per fit, n_jobs 1:             {sec_full:6.1f} s, pooled AUC "
          f"{s_full['auc']['estimate']:.3f}", flush=True)
    sec_stop, s_stop = timed(table, {**CFG, **stop})
    print(f"one nested CV, early stopping (patience 20), n_jobs 1:  {sec_stop:6.1f} s, pooled AUC "
          f"{s_stop['auc']['estimate']:.3f}  ({sec_full / sec_stop:.2f}x)", flush=True)
    cfg = {**CFG, **stop, "n_jobs": args.n_jobs,
           "safeguards": {**CFG["safeguards"], "permutations": args.permutations}}
    sec_perm, s_perm = timed(table, cfg)
    perm = s_perm["permutation"]
    print(f"nested CV + {args.permutations}-permutation test, n_jobs {args.n_jobs}:      {sec_perm:6.1f} s "
          f"({sec_perm / 60:.1f} min); p = {perm['p_value']:.3f}, null AUC mean {perm['null_auc_mean']:.3f}, "
          f"95th percentile {perm['null_auc_95th']:.3f}", flush=True)


if __name__ == "__main__":
    main()
