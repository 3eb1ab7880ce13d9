"""Can radiomix's safeguards tell a signature that adds to volume from one that is volume? Two synthetic
multi-site cohorts that differ only in where the outcome comes from, run through the recommended multi-site
configuration (params/train_multisite.yaml, leave-one-site-out nested CV), and a permutation test.

    python benchmarks/safeguards_cohorts.py             # 600 patients per cohort, 100 permutations
    python benchmarks/safeguards_cohorts.py --quick     # 300 patients, 20 permutations

Cohorts (``radiomix.datasets.make_cohort(n, 3, signal=...)``, images -> pyradiomics ``ct-original`` -> merge,
cached under .radiomix-cache/benchmarks/ and shared with benchmarks/recommended.py):

* ``beyond_volume``: outcome from lesion size and an independent heterogeneity (texture, density, lobulation);
* ``volume``: outcome from lesion size alone.

Printed per cohort: the verdict sentence and table that ``radiomix train`` writes (baselines with the refit-aware
and the paired-bootstrap CI of "model minus baseline" in the mean per-site AUC), then PASS when the model beats
the volume baseline on ``beyond_volume`` (the refit-aware CI, which the verdict decides on, above 0) and does not
on ``volume``.

Permutation test (acceptance: p < 0.05 with 100 permutations on the cohort with signal): refitting the full
recommended pipeline (tuned XGBoost, mRMR, imputation by trees) 100 times on 600 patients would take hours on
2 cores, so the test runs on the same cohort and folds with a cheap pipeline of the same shape (ComBat inside
each training fold, median imputation, L2 logistic at fixed C, fixed threshold): every permutation refits
ComBat, the imputer and the model in every leave-site-out fold, outcomes permuted within site.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd

# benchmarks/ is on sys.path when this file runs as a script
from recommended import base_config, load_synthetic


def cheap_config() -> dict:
    return {"target": "outcome", "batch": "site", "harmonize": {"method": "combat", "features": "radiomic",
                                                               "unseen": "estimate"},
            "impute": {"method": "median"}, "model": {"name": "logistic", "params": {"C": 0.1, "max_iter": 2000},
                                                     "search": {}},
            "cv": {"outer": {"kind": "leave_site_out"}}, "threshold": 0.5, "bootstrap": 0, "final_model": False,
            "safeguards": {"baselines": False, "shap": False}, "n_jobs": 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--permutations", type=int, default=None)
    args = ap.parse_args(argv)
    n, n_perm, n_boot = (300, 20, 300) if args.quick else (600, 100, 1000)
    n_perm = args.permutations if args.permutations is not None else n_perm
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 90)
    ok = True
    for signal in ("beyond_volume", "volume"):
        table, _ = load_synthetic(signal, n)
        t0 = time.perf_counter()
        from radiomix.train import train

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = train(table, base_config(10, n_boot), progress=False, report=False)  # 10: the default candidates
        v = res.summary["verdict"]
        vol = res.summary["baselines"]["volume"]
        print(f"\n{signal} ({len(table)} patients, {int(table['outcome'].sum())} positive; "
              f"{time.perf_counter() - t0:.0f} s)\nverdict: {v['sentence']}")
        print(pd.DataFrame(v["rows"]).to_string(index=False))
        want = signal == "beyond_volume"
        lo = vol["decision"]["ci_low"]  # the interval the verdict decides on (refit-aware)
        passed = (lo > 0) == want
        ok &= passed
        print(f"model - volume {vol['difference']:+.3f}: refit-aware 95% CI {lo:+.3f} to {vol['decision']['ci_high']:+.3f}"
              f", paired bootstrap {vol['ci_low']:+.3f} to {vol['ci_high']:+.3f}")
        print(f"{'PASS' if passed else 'FAIL'}: the model {'beats' if lo > 0 else 'does not beat'} the "
              f"volume baseline (wanted: {'beats' if want else 'does not beat'})")
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import permutation_test, study_headline
    from radiomix.study import make_study

    table, _ = load_synthetic("beyond_volume", n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, cheap_config(), verbose=False)
        obs = study_headline(study, nested_cv(study, progress=False))
        t0 = time.perf_counter()
        perm = permutation_test(study, obs, n_perm, progress=sys.stderr.isatty())
    passed = perm["p_value"] < 0.05
    ok &= passed
    print(f"\npermutation test on beyond_volume (cheap pipeline: ComBat + median + L2 logistic, leave-site-out; "
          f"{n_perm} permutations, {time.perf_counter() - t0:.0f} s): observed mean per-site AUC {obs:.3f}, null mean "
          f"{perm['null_auc_mean']:.3f}, 95th percentile {perm['null_auc_95th']:.3f}, p = {perm['p_value']:.4f} "
          f"(MC SE {perm['mc_se']:.4f})\n{'PASS' if passed else 'FAIL'}: p < 0.05")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
