"""Where does a leave-site-out ``radiomix train`` run spend its time? A profile by stage (issue #17, item 1).

    python benchmarks/profile_train.py                      # 976 x 1,002, 6 sites, params/train_multisite.yaml
    python benchmarks/profile_train.py --config params/train_default.yaml --n 300 --p 200
    python benchmarks/profile_train.py --n 200 --p 100 --compare   # with and without the step cache

Generates a table of the issue's shape (``--n`` patients x ``--p`` features, ``--sites`` sites with additive and
multiplicative site effects on correlated features, ``--block-missing`` patients missing the whole radiomic
block, ``--mcar`` of the other cells missing at random, a binary outcome from 5 of the features), runs
``radiomix.train.train`` once under cProfile (no report, no final model; baselines and held-out SHAP as the
config says), and prints the wall time and the cumulative time of each stage's functions (time inside a stage
called from another stage counts in both; the table is for orientation, not a partition).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

#: stage -> (file suffix, function name) pairs whose cumulative time is reported
STAGES = {
    "nested CV (all outer folds)": [("radiomix/model_selection/validation.py", "nested_cv")],
    "search: candidates on inner folds": [("radiomix/model_selection/search.py", "tune")],
    "threshold / correction (inner OOF)": [("radiomix/model_selection/thresholds.py", "finalize")],
    "ComBat fit": [("radiomix/harmonize/combat.py", "fit")],
    "ComBat transform": [("radiomix/harmonize/combat.py", "transform")],
    "imputation (fit_transform)": [("radiomix/impute/surrogate.py", "fit_transform")],
    "correlation filter fit": [("radiomix/select/filters.py", "fit")],
    "XGBoost fit": [("xgboost/sklearn.py", "fit")],
    "logistic fit": [("sklearn/linear_model/_logistic.py", "fit")],
    "safeguards (baselines, case mix, verdict)": [("radiomix/train.py", "run_safeguards")],
    "paired bootstrap": [("radiomix/safeguards.py", "paired_bootstrap_difference")],
    "held-out SHAP": [("radiomix/explain.py", "fold_shap")],
    "bootstrap CIs of the metrics": [("radiomix/metrics.py", "bootstrap_ci")],
}


def make_table(n: int, p: int, sites: int, block_missing: int, mcar: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = np.sort(rng.integers(0, sites, n))
    latent = rng.normal(size=(n, 20))
    X = latent @ rng.normal(size=(20, p)) / np.sqrt(20) + 0.5 * rng.normal(size=(n, p))   # correlated features
    X = X * rng.uniform(0.8, 1.25, size=(sites, p))[site] + rng.normal(0, 0.5, size=(sites, p))[site]
    cols = [f"original_firstorder_F{i:04d}" for i in range(p)]
    t = pd.DataFrame(X, columns=cols)
    t["original_shape_MeshVolume"] = np.exp(8 + latent[:, 0] * 0.8)
    lp = latent[:, :5] @ np.array([0.8, -0.6, 0.5, 0.4, -0.3])
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    t = t.mask(rng.random(t.shape) < mcar)
    t.loc[rng.choice(n, block_missing, replace=False), cols + ["original_shape_MeshVolume"]] = np.nan
    return t.assign(id=[f"p{i:04d}" for i in range(n)], outcome=y, site=[f"site{k}" for k in site],
                    age=rng.normal(62, 9, n).round())


def compare(table: pd.DataFrame, cfg: dict) -> int:
    """Wall time of the nested CV with ``search.step_cache`` and with it replaced by a no-op (everything refitted
    for every candidate); the out-of-fold predictions must be identical."""
    import contextlib

    import radiomix.model_selection as search
    from radiomix.train import train

    real = search.step_cache
    out = {}
    for mode in ("step cache", "refit every candidate"):
        search.step_cache = real if mode == "step cache" else contextlib.nullcontext
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = train(table, cfg, progress=False, report=False)
        finally:
            search.step_cache = real
        out[mode] = (time.perf_counter() - t0, res.cv.oof)
        print(f"{mode}: {out[mode][0]:.1f} s, pooled AUC {res.summary['auc']['estimate']:.4f}", flush=True)
    (a, oof_a), (b, oof_b) = out.values()
    same = oof_a.equals(oof_b)
    print(f"ratio {b / a:.2f}x; out-of-fold predictions identical: {same}")
    return 0 if same else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "params" / "train_multisite.yaml"))
    ap.add_argument("--n", type=int, default=976)
    ap.add_argument("--p", type=int, default=1001, help="features besides the volume column")
    ap.add_argument("--sites", type=int, default=6)
    ap.add_argument("--block-missing", type=int, default=3)
    ap.add_argument("--mcar", type=float, default=0.005)
    ap.add_argument("--top", type=int, default=15, help="also print the top functions by own time")
    ap.add_argument("--compare", action="store_true",
                    help="no profile: time the run with the per-training-set step cache and without it (safeguards "
                         "off), one after the other, and print both wall times and AUCs")
    args = ap.parse_args(argv)
    import yaml

    from radiomix.train import train

    table = make_table(args.n, args.p, args.sites, args.block_missing, args.mcar)
    cfg = yaml.safe_load(Path(args.config).read_text())
    cfg.update({"target": "outcome", "batch": "site", "id": "id", "final_model": False, "n_jobs": 1})
    if cfg.get("harmonize", {}).get("method") == "combat":
        cfg["harmonize"] = {**cfg["harmonize"], "features": "all", "exclude": ["age"]}
    print(f"table {table.shape[0]} x {table.shape[1] - 3} features, {args.sites} sites, {args.block_missing} "
          f"patients without the radiomic block, {args.mcar:.1%} MCAR; config {Path(args.config).name}", flush=True)
    if args.compare:
        return compare(table, {**cfg, "safeguards": {"baselines": False, "shap": False}})
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof.enable()
        res = train(table, cfg, progress=False, report=False)
        prof.disable()
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    rows = []
    for stage, targets in STAGES.items():
        cum = sum(v[3] for (fname, _line, func), v in st.stats.items()
                  if any(fname.endswith(suffix) and func == name for suffix, name in targets))
        rows.append({"stage": stage, "seconds (cumulative)": round(cum, 1), "share of wall": f"{cum / wall:.0%}"})
    print(f"\nwall time {wall:.1f} s; mean per-site AUC {res.summary.get('verdict', {}).get('headline', '')} "
          f"pooled AUC {res.summary['auc']['estimate']:.3f}")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"\ntop {args.top} functions by own time:")
    st.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
