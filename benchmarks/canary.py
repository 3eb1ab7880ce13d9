"""Leakage canary: radiomix's full nested CV (mRMR selection and hyperparameter tuning inside every training
fold) on pure noise must give an out-of-fold AUC of 0.5. Selecting features or tuning on all rows before
cross-validating gives AUCs well above 0.5 on such data (100 patients, 1,000 features).

    nice python benchmarks/canary.py            # 40 noise tables (seeds 0..39)
    nice python benchmarks/canary.py --quick    # 5 tables (a smoke test, not a verdict)

Each seed: 100 patients x 1,000 standard-normal features, an outcome drawn independently (P(1) = 0.5), and the
pipeline: mRMR keeps 10 features (select.mrmr: 10, F-test relevance), XGBoost (100 trees, hist, n_jobs 1)
tuned by random search over max_depth {2, 3} x learning_rate {0.05, 0.2} x min_child_weight {1, 3}
(4 candidates, 3-fold inner CV scored by AUC), Youden threshold chosen on inner out-of-fold predictions,
5-fold stratified outer CV, no bootstrap, no baselines, n_jobs 1 (random_state = seed), BLAS/OpenMP limited to
one thread (threadpoolctl; the machine has 2 shared cores). mRMR is refitted in
every inner and outer training fold, so one seed fits the selection ~80 times; the correlation filter is left
out (it added ~40 % to the run time and is not needed for the canary). The script prints each seed's pooled
out-of-fold AUC (``study_headline``) and seconds, then their mean with its standard error (sd / sqrt(seeds)).

Positive control (not part of the criterion; --no-control skips it): the same seeds with the leak built in,
mRMR run once on all 100 rows (radiomix.select.MRMRSelector, 10 features) and only the tuned XGBoost
cross-validated on those features. It shows the size of the effect the canary is there to catch.

Acceptance criterion: the mean AUC over the seeds lies within 0.5 +- 0.03. With 40 seeds the standard error is
~0.01, so a leak of a few AUC points shows. Pooled out-of-fold AUCs of pure noise also tend to sit slightly
below 0.5 (a known small negative bias of cross-validated AUC on noise, from pooling scores of different fold
models and from each test fold's rows being missing from its training fold), which the band allows for.
Exit status 1 when the mean is outside the band. Deterministic for the seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd


def noise_table(seed: int, n: int = 100, n_features: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"noise_{j}" for j in range(n_features)])
    return t.assign(y=(rng.random(n) < 0.5).astype(int), id=[f"p{i}" for i in range(n)])


def config(seed: int, k: int) -> dict:
    return {"target": "y", "impute": {"method": "none"}, "select": {"mrmr": k},
            "model": {"name": "xgboost", "params": {"n_estimators": 100, "tree_method": "hist", "n_jobs": 1},
                      "search": {"max_depth": [2, 3], "learning_rate": [0.05, 0.2], "min_child_weight": [1, 3]}},
            "search": {"method": "random", "n_candidates": 4},
            "cv": {"outer": {"kind": "stratified", "n_splits": 5}, "inner": {"n_splits": 3}},
            "threshold": "youden", "bootstrap": 0, "final_model": False, "safeguards": {"baselines": False},
            "random_state": seed, "n_jobs": 1}


def leaky_auc(table: pd.DataFrame, seed: int, k: int) -> float:
    """The positive control: mRMR on every row before the nested CV (the leak the canary must catch)."""
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import study_headline
    from radiomix.select import MRMRSelector
    from radiomix.study import make_study

    X = table.drop(columns=["y", "id"])
    keep = list(X.columns[MRMRSelector(n_features=k).fit(X, table["y"]).get_support()])
    cfg = {**config(seed, k), "select": {"mrmr": None}}
    study = make_study(table[keep + ["y", "id"]], cfg, verbose=False)
    return study_headline(study, nested_cv(study, progress=False))


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import study_headline
    from radiomix.study import make_study

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 seeds: a smoke test, not a verdict")
    parser.add_argument("--seeds", type=int, default=None, help="noise tables (default 40)")
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--mrmr", type=int, default=10, help="features mRMR keeps (default 10)")
    parser.add_argument("--tolerance", type=float, default=0.03, help="PASS band: 0.5 +- this (default 0.03)")
    parser.add_argument("--no-control", action="store_true", help="skip the leaky positive control")
    args = parser.parse_args(argv)
    seeds = args.seeds or (5 if args.quick else 40)

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rows = []
    limit = threadpool_limits(1)
    for seed in range(seeds):
        t = time.perf_counter()
        table = noise_table(seed, args.patients, args.features)
        study = make_study(table, config(seed, args.mrmr), verbose=False)
        res = nested_cv(study, progress=False)
        rows.append({"seed": seed, "positives": int(table["y"].sum()), "oof AUC": round(study_headline(study, res), 4),
                     "inner score (mean)": round(float(res.folds["inner_score"].mean()), 4),
                     "seconds": round(time.perf_counter() - t, 1)})
        if not args.no_control:
            rows[-1]["leaky control AUC"] = round(leaky_auc(table, seed, args.mrmr), 4)
        print(f"  seed {seed}: AUC {rows[-1]['oof AUC']:.4f} ({rows[-1]['seconds']} s)", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    limit.restore_original_limits()
    d = pd.DataFrame(rows)
    print(d.to_string(index=False))
    auc = d["oof AUC"].to_numpy()
    mean, se = float(auc.mean()), float(auc.std(ddof=1) / np.sqrt(auc.size)) if auc.size > 1 else float("nan")
    print(f"\n{seeds} seeds, {args.patients} patients x {args.features:,} noise features, mRMR {args.mrmr}, XGBoost "
          f"tuned (4 candidates), 5-fold outer CV")
    print(f"mean out-of-fold AUC {mean:.4f} (SE {se:.4f}, sd {auc.std(ddof=1):.4f}, "
          f"range {auc.min():.3f}-{auc.max():.3f}); mean inner-CV score of the chosen candidates "
          f"{d['inner score (mean)'].mean():.4f}")
    if not args.no_control:
        leak = d["leaky control AUC"].to_numpy()
        print(f"positive control (mRMR on all rows first): mean AUC {leak.mean():.4f} "
              f"(SE {leak.std(ddof=1) / np.sqrt(leak.size) if leak.size > 1 else float('nan'):.4f})")
    print(f"seconds per seed {d['seconds'].mean():.1f} for the canary itself (total {seconds:.0f} s with the control)")
    passed = abs(mean - 0.5) <= args.tolerance
    print(f"{'PASS' if passed else 'FAIL'}: mean AUC {mean:.4f} {'within' if passed else 'outside'} "
          f"0.5 +- {args.tolerance:g}" + (" [--quick: smoke test only]" if args.quick else ""))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
