"""Time radiomix's ComBat against neuroCombat 0.2.12 and check, in the same run, that the outputs agree.

    python benchmarks/combat.py            # 500 x 1,000 and 2,000 x 2,000 (neuroCombat non-parametric: ~1 min)
    python benchmarks/combat.py --quick    # 500 x 1,000 only

Sizes are samples x features. Each table has at least 4 sites of at most 250 rows, age and sex covariates and
additive + multiplicative site effects. Beyond ~300 rows per site neuroCombat's non-parametric likelihood
(2 pi d)^(-n/2) exp(...) underflows and its output becomes NaN or imprecise, so its results could not serve
as the reference; the last line shows that regime (radiomix works in the log domain and stays finite).

Times are medians over --repeats runs of fit_transform (DataFrame in, DataFrame out for radiomix;
features x samples float64 array for neuroCombat), with BLAS limited to --threads threads (default 1:
on small shared machines multi-threaded OpenBLAS mostly measures contention).

Last, ``radiomix`` is compared with Bioconductor's ``sva::ComBat`` on the outputs stored in
tests/fixtures/combat/ (written by tests/oracles/combat_sva.R; no R needed here): the largest absolute
difference per configuration and over all 15. ``--sva-only`` runs just that check (a second).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd


def make_table(n_samples: int, n_features: int, rows_per_site: int = 250, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_sites = max(4, -(-n_samples // rows_per_site))
    site = np.sort(np.arange(n_samples) % n_sites)
    age = np.round(rng.uniform(30, 80, n_samples))  # whole years: exact in neuroCombat's float32 cast
    sex = rng.choice(["F", "M"], n_samples)
    Y = rng.normal(size=(n_samples, n_features)) + 0.02 * age[:, None] + 0.4 * (sex == "M")[:, None]
    Y = Y * np.exp(rng.normal(0, 0.3, (n_sites, n_features)))[site] + rng.normal(0, 1, (n_sites, n_features))[site]
    X = pd.DataFrame(Y, columns=[f"f{i}" for i in range(n_features)])
    X["site"], X["age"], X["sex"] = [f"s{k}" for k in site], age, sex
    return X, n_sites


def _median_time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run_neurocombat(X: pd.DataFrame, feats: list, parametric: bool):
    from neuroCombat import neuroCombat

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = neuroCombat(X[feats].to_numpy().T.copy(), X[["site", "age", "sex"]], "site", categorical_cols=["sex"],
                          continuous_cols=["age"], parametric=parametric)
    return res["data"].T


SVA_FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "combat"
# config -> (data set, with covariates, parametric, mean_only, ref_batch), as in tests/oracles/combat_sva.R;
# the same table the tests read (tests/fixtures/combat/sva_configs.json).
SVA_CONFIGS = {k: (v["data"], v["covariates"], v["parametric"], v["mean_only"], v["ref_batch"])
               for k, v in json.loads((SVA_FIXTURES / "sva_configs.json").read_text()).items()}


def compare_sva(fixtures: Path = SVA_FIXTURES) -> dict:
    """Max |radiomix - sva::ComBat| per stored configuration.

    With missing values sva divides the pooled variance by n-1 for every feature and radiomix by default
    does not (see ComBat's Notes); for the three ``*_na`` configurations the sva rule is switched on, as in
    the test suite, and the default's difference is printed as well.
    """
    import radiomix.harmonize as hm
    from radiomix.harmonize import ComBat, ComBatWarning

    versions = "; ".join(v.strip() for v in (fixtures / "sva_versions.txt").read_text().splitlines() if v.strip())
    print(f"\nradiomix vs {versions} (stored outputs in {fixtures.relative_to(fixtures.parents[2])}):")
    diffs = {}
    for config, (ds, adjusted, parametric, mean_only, ref_batch) in SVA_CONFIGS.items():
        X = pd.read_csv(fixtures / f"sva_input_{ds}.csv")
        ref = pd.read_csv(fixtures / f"sva_{config}.csv")
        for sva_rule in ((False, True) if config.endswith("_na") else (False,)):
            combat = ComBat(batch="site", covariates=["age", "sex", "grade"] if adjusted else None,
                            features=r"^f\d+$", parametric=parametric, mean_only=mean_only, ref_batch=ref_batch)
            saved = hm._SVA_NA_VARIANCE
            hm._SVA_NA_VARIANCE = sva_rule
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ComBatWarning)
                    got = combat.fit_transform(X)[ref.columns].to_numpy()
            finally:
                hm._SVA_NA_VARIANCE = saved
            want = ref.to_numpy(float)
            if not np.array_equal(np.isnan(got), np.isnan(want)):
                raise AssertionError(f"{config}: missing cells differ from sva's")
            d = float(np.nanmax(np.abs(got - want)))
            if sva_rule or not config.endswith("_na"):
                diffs[config] = d
            label = " (sva's n-1 variance rule)" if sva_rule else (" (radiomix default variance)"
                                                                  if config.endswith("_na") else "")
            print(f"  {config:<22} {X.shape[0]} x {want.shape[1]}: max|diff| {d:.1e}{label}")
    print(f"max |radiomix - sva::ComBat| over all {len(diffs)} configurations: {max(diffs.values()):.1e}")
    return diffs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only 500 x 1,000")
    ap.add_argument("--sva-only", action="store_true", help="only the comparison with sva::ComBat's stored outputs")
    ap.add_argument("--repeats", type=int, default=5, help="radiomix runs per case (median)")
    ap.add_argument("--nc-repeats", type=int, default=3, help="neuroCombat runs per case (median; once for "
                    "the non-parametric 2,000 x 2,000 case)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from radiomix.harmonize import ComBat

    if args.sva_only:
        return compare_sva()
    sizes = [(500, 1000)] if args.quick else [(500, 1000), (2000, 2000)]
    rows = []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for n, p in sizes:
            X, n_sites = make_table(n, p)
            feats = [c for c in X if c.startswith("f")]
            for parametric in (True, False):
                combat = ComBat(batch="site", covariates=["age", "sex"], features=feats, parametric=parametric)
                t_rm, out = _median_time(partial(combat.fit_transform, X), args.repeats)
                nc_rep = 1 if (not parametric and n * p >= 2000 * 2000) else args.nc_repeats
                t_nc, ref = _median_time(partial(run_neurocombat, X, feats, parametric), nc_rep)
                diff = float(np.nanmax(np.abs(out[feats].to_numpy() - ref)))
                rows.append({"samples x features": f"{n} x {p}", "sites": n_sites,
                             "prior": "parametric" if parametric else "non-parametric", "radiomix_s": t_rm,
                             "neuroCombat_s": t_nc, "speed-up": t_nc / t_rm, "max_abs_diff": diff,
                             "neuroCombat_NaN": int(np.isnan(ref).sum()), "nc_runs": nc_rep})
                print(f"{n} x {p} {rows[-1]['prior']:>14}: radiomix {t_rm:.3f} s, neuroCombat {t_nc:.2f} s, "
                      f"x{t_nc / t_rm:.0f}, max|diff| {diff:.1e}", flush=True)

        # The regime where neuroCombat's non-parametric prior underflows: 4 sites of 500 rows.
        X, n_sites = make_table(2000, 200, rows_per_site=500, seed=1)
        feats = [c for c in X if c.startswith("f")]
        out = ComBat(batch="site", covariates=["age", "sex"], features=feats, parametric=False).fit_transform(X)
        ref = run_neurocombat(X, feats, parametric=False)
        ok = ~np.isnan(ref)
        rows.append({"samples x features": "2000 x 200", "sites": n_sites, "prior": "non-parametric",
                     "radiomix_s": np.nan, "neuroCombat_s": np.nan, "speed-up": np.nan,
                     "max_abs_diff": float(np.abs(out[feats].to_numpy() - ref)[ok].max()) if ok.any() else np.nan,
                     "neuroCombat_NaN": int((~ok).sum()), "nc_runs": 1})
        print(f"2000 x 200 with 500 rows per site: neuroCombat NaN in {(~ok).mean():.0%} of the cells; "
              f"radiomix NaN: {int(out[feats].isna().to_numpy().sum())}")

    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    compare_sva()
    return table


if __name__ == "__main__":
    main()
