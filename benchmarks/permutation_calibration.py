"""Calibration of radiomix's permutation test of the whole nested CV (radiomix.safeguards.permutation_test) under
the null: on pure-noise tables the rate of p <= 0.05 must be 5 %.

    nice python benchmarks/permutation_calibration.py            # 200 noise tables, N=59 permutations each
    nice python benchmarks/permutation_calibration.py --quick    # 20 tables (a smoke test, not a verdict)

Each trial (seed 0..199) is a table of 70 patients at 2 sites (A: 40 %, B: 60 % positives, each patient's
outcome drawn independently), 10 standard-normal features unrelated to the outcome, and a cheap pipeline:
logistic regression (C=1, no hyperparameter search), 5-fold stratified outer CV, fixed threshold 0.5 (so no
inner folds are fitted at all), no bootstrap, no baselines, n_jobs 1, BLAS/OpenMP limited to one thread
(threadpoolctl: on a loaded 2-core machine multi-threaded OpenBLAS made each 56 x 10 logistic fit ~8x slower
and one nested CV 0.28 s instead of 0.08 s; the results do not depend on it). The observed statistic is
``study_headline(study, nested_cv(study))`` (the pooled out-of-fold AUC) and
``permutation_test(study, observed, N, random_state=seed)`` permutes the outcome within site and refits the
whole nested CV N times; ``p = (1 + #{AUC_perm >= observed}) / (N + 1)``.

Why N=59: one nested CV costs ~0.08 s here and the run costs 200 x (N + 1) of them: ~5 min for N=19, ~16 min
for N=59, ~27 min for N=99 (over the time budget on this shared machine). Under the null the observed AUC and
the N permuted ones are exchangeable, so p <= 0.05 means that at most floor(0.05 (N + 1)) - 1 permuted AUCs
reach the observed one, and P(p <= 0.05) = floor(0.05 (N + 1)) / (N + 1): 1/20 for N=19 (the smallest
attainable p is then 0.05 itself), 3/60 for N=59, 5/100 for N=99 (but 2/50 = 0.04 for N=49: N + 1 must be a
multiple of 20 for the level to be exactly 0.05). This is exact without ties and an upper bound with ties
(">=" counts ties against the observed; AUCs on 70 patients take about a thousand values, so ties occur and
make the test slightly conservative). Over 200 independent trials the number of p <= 0.05 is then
Binomial(200, 0.05) (or stochastically smaller with ties); the acceptance region is the exact two-sided 95 %
binomial region [binom.ppf(0.025), binom.ppf(0.975)] = [4, 16] trials. Also reported: the rate of p <= 0.10,
the mean p-value (null expectation (N + 2) / (2 (N + 1)) without ties), the p-values in bins of 0.05, the mean
observed AUC and the mean null AUC (pooled cross-validated AUCs of noise tend to sit somewhat below 0.5: a
known small negative bias, not a leak). Exit status 1 when the count of p <= 0.05 falls outside the acceptance
region. Deterministic for the seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd


def noise_table(seed: int, n: int = 70, n_features: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.choice(["A", "B"], n)
    y = (rng.random(n) < np.where(site == "A", 0.4, 0.6)).astype(int)
    t = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"noise_{j}" for j in range(n_features)])
    return t.assign(y=y, site=site, id=[f"p{i}" for i in range(n)])


def config(seed: int) -> dict:
    return {"target": "y", "batch": "site", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}},
            "cv": {"outer": {"kind": "stratified", "n_splits": 5}}, "threshold": 0.5, "bootstrap": 0,
            "final_model": False, "safeguards": {"baselines": False}, "impute": {"method": "none"},
            "random_state": seed, "n_jobs": 1}


def trial(seed: int, n_permutations: int, n: int) -> dict:
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import permutation_test, study_headline
    from radiomix.study import make_study

    study = make_study(noise_table(seed, n), config(seed), verbose=False)
    observed = study_headline(study, nested_cv(study, progress=False))
    res = permutation_test(study, observed, n_permutations, random_state=seed)
    return {"seed": seed, "observed": observed, "p": res["p_value"], "null_mean": res["null_auc_mean"]}


def main(argv=None) -> int:
    from scipy.stats import binom
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 trials: a smoke test, not a verdict")
    parser.add_argument("--trials", type=int, default=None, help="noise tables (default 200)")
    parser.add_argument("--permutations", "-N", type=int, default=59, help="permutations per test (default 59)")
    parser.add_argument("--patients", type=int, default=70)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--verbose", action="store_true", help="one line per trial on stderr")
    args = parser.parse_args(argv)
    trials = args.trials or (20 if args.quick else 200)
    N, alpha = args.permutations, args.alpha

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rows = []
    for seed in range(trials):
        with threadpool_limits(1):
            rows.append(trial(seed, N, args.patients))
        if args.verbose or (seed + 1) % 20 == 0:
            r = rows[-1]
            print(f"  trial {seed + 1}/{trials}: observed AUC {r['observed']:.3f}, p {r['p']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    d = pd.DataFrame(rows)
    # P(p <= alpha) under the null: floor(alpha (N+1)) / (N+1) (1/20, 3/60, 5/100 for N=19, 59, 99 at 0.05).
    k_alpha = int(np.floor(alpha * (N + 1) + 1e-9))
    p_null = k_alpha / (N + 1)
    lo, hi = int(binom.ppf(0.025, trials, p_null)), int(binom.ppf(0.975, trials, p_null))
    hits = int((d["p"] <= alpha + 1e-12).sum())
    table = pd.DataFrame([
        {"quantity": f"trials (N={N} permutations each, {args.patients} patients, 10 noise features)",
         "value": trials},
        {"quantity": f"p <= {alpha:g}: count", "value": hits},
        {"quantity": f"p <= {alpha:g}: rate", "value": round(hits / trials, 4)},
        {"quantity": f"null P(p <= {alpha:g}) = {k_alpha}/{N + 1}", "value": round(p_null, 4)},
        {"quantity": "exact 95% acceptance region for the count (binom.ppf 0.025, 0.975)", "value": f"[{lo}, {hi}]"},
        {"quantity": "p <= 0.10: rate (null 0.10 for N=19, 59, 99)",
         "value": round(float((d["p"] <= 0.1 + 1e-12).mean()), 4)},
        {"quantity": f"mean p (null {(N + 2) / (2 * (N + 1)):.3f} without ties)", "value": round(d["p"].mean(), 4)},
        {"quantity": "mean observed AUC (sd)", "value": f"{d['observed'].mean():.4f} ({d['observed'].std():.4f})"},
        {"quantity": "mean null AUC over all permutations", "value": round(d["null_mean"].mean(), 4)},
        {"quantity": "seconds per trial (N + 1 nested CVs)", "value": round(seconds / trials, 2)},
        {"quantity": "seconds per nested CV", "value": round(seconds / trials / (N + 1), 3)},
    ])
    with pd.option_context("display.width", 200, "display.max_colwidth", 100):
        print(table.to_string(index=False))
    bins = np.histogram(d["p"], bins=np.linspace(0, 1, 21) + 1e-9)[0]
    print(f"\np-values in bins of 0.05 ([0, 0.05], (0.05, 0.10], ...): {bins.tolist()}")
    print(f"total {seconds:.0f} s")
    passed = lo <= hits <= hi
    print(f"{'PASS' if passed else 'FAIL'}: {hits}/{trials} trials with p <= {alpha:g} "
          f"({'inside' if passed else 'outside'} [{lo}, {hi}])" + (" [--quick: smoke test only]" if args.quick else ""))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
