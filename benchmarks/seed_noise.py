"""Is "beats the baseline" seed noise? The same procedure against itself, only the model's seed changed.

On a real table (../shared/data/tables/radmlbench_hn1: 137 patients x 105 pyradiomics features, lymph-node
metastasis), radiomix's default procedure (XGBoost tuned by inner random search, mRMR) is run with model seed s
and with model seed s + 1000 on the SAME outer folds (cv random_state fixed), for ``--pairs`` seeds. The true
difference is 0. For each pair, two intervals of "run A minus run B" in the pooled AUC:

* the paired bootstrap of the out-of-fold predictions (``safeguards.paired_bootstrap_difference``: the
  predictions held fixed);
* the refit-aware interval the verdict decides on (``safeguards.decision_interval``: the difference plus or
  minus t times the corrected resampled standard error of Nadeau & Bengio 2003 over the per-fold differences,
  ``model_selection.compare.refit_aware_difference``).

Printed: how often each interval excludes 0 (a false "beats" or "worse"); acceptance (issue #23): the refit-aware
one in at most 1 of 20.

    python benchmarks/seed_noise.py               # 20 pairs, 5-fold outer CV repeated twice
    python benchmarks/seed_noise.py --pairs 4     # quick
    python benchmarks/seed_noise.py --subsample 0.8   # resampled cohorts: each pair on its own 80 % of the patients
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TABLE = ROOT.parent / "shared" / "data" / "tables" / "radmlbench_hn1" / "Head-Neck-Radiomics-HN1.csv"


def config(model_seed: int, repeats: int) -> dict:
    return {"id": "ID", "target": "Target", "random_state": 0, "bootstrap": 0,
            "cv": {"outer": {"n_splits": 5, "n_repeats": repeats}},
            "search": {"n_candidates": 6},
            "model": {"name": "xgboost", "params": {"random_state": model_seed, "n_jobs": 1}},
            "safeguards": {"baselines": False, "shap": False, "permutations": 0}}


def run(table: pd.DataFrame, model_seed: int, repeats: int):
    from radiomix import make_study, nested_cv

    study = make_study(table, config(model_seed, repeats), verbose=False)
    return study, nested_cv(study, progress=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--subsample", type=float, default=None, metavar="F",
                    help="each pair on its own random subsample of F of the patients (resampled cohorts; both runs "
                         "of a pair on the same one)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from radiomix.model_selection.compare import refit_aware_difference
    from radiomix.safeguards import decision_interval, oof_scores, paired_bootstrap_difference

    table = pd.read_csv(TABLE)
    print(f"{TABLE.name}: {len(table)} patients; default XGBoost procedure, 5-fold x {args.repeats} outer CV; "
          f"model seed s vs s + 1000 on the same folds, {args.pairs} pairs"
          + (f"; each pair on its own subsample of {args.subsample:.0%} of the patients" if args.subsample else ""))
    boot_hits = refit_hits = 0
    t0 = time.perf_counter()
    for s in range(args.pairs):
        cohort = table if args.subsample is None else \
            table.sample(frac=args.subsample, random_state=10_000 + s).reset_index(drop=True)
        study, a = run(cohort, s, args.repeats)
        _, b = run(cohort, s + 1000, args.repeats)
        pa, pb = oof_scores(a, study.ids), oof_scores(b, study.ids)
        boot = paired_bootstrap_difference(study.y, pa, pb, n_boot=2000, random_state=s, task=study.task)
        ref = decision_interval(boot, refit_aware_difference(study.task, study.y, a.oof, b.oof, study.ids, ["proba"],
                                                             n_rows=len(study.y)))
        bh = boot["ci_low"] > 0 or boot["ci_high"] < 0
        rh = ref["ci_low"] > 0 or ref["ci_high"] < 0
        boot_hits += bh
        refit_hits += rh
        print(f"pair {s:2d}: bootstrap {boot['difference']:+.3f} ({boot['ci_low']:+.3f} to {boot['ci_high']:+.3f})"
              f"{' EXCLUDES 0' if bh else ''}; refit-aware {boot['difference']:+.3f} ({ref['ci_low']:+.3f} to "
              f"{ref['ci_high']:+.3f}){' EXCLUDES 0' if rh else ''}  [{time.perf_counter() - t0:.0f} s]", flush=True)
    print(f"intervals excluding 0 (true difference 0): paired bootstrap {boot_hits}/{args.pairs}, "
          f"refit-aware {refit_hits}/{args.pairs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
