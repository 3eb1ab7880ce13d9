"""Imputing a wide radiomic table (issue #17, item 3): one round of ``SurrogateTreeImputer`` on the table of
``benchmarks/profile_train.py`` (976 patients x 1,002 features, 6 sites, 3 patients without the radiomic block,
0.5 % of the cells missing at random), with every column as a predictor of every tree against
``max_predictors=30`` (each tree on its 30 most correlated columns), both with ``blocks=`` (the 3 block-missing
patients get the block's training means, no tree). Also the imputation error on the sporadically missing cells
(RMSE in units of each column's SD, against the values before they were removed), so the speed-up is weighed
against what it changes.

Run: ``python benchmarks/impute_wide.py [--repeats 3]`` (the all-columns variant takes about 2 minutes a repeat).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_train import make_table  # noqa: E402


def main(argv=None) -> None:
    from radiomix.impute import SurrogateTreeImputer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    full = make_table(976, 1001, 6, 0, 0.0)
    masked = make_table(976, 1001, 6, 3, 0.005)
    cols = [c for c in masked.columns if c.startswith("original_")]
    X, truth = masked[cols], full[cols]
    sporadic = X.isna().to_numpy() & ~X.isna().all(axis=1).to_numpy()[:, None]
    sd = truth.std().to_numpy()
    times, errors = {}, {}
    for name, k in (("all columns", None), ("max_predictors=30", 30)):
        runs = []
        for _ in range(args.repeats):
            imp = SurrogateTreeImputer(max_iter=1, blocks=[cols], max_predictors=k)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = imp.fit_transform(X)
            runs.append(time.perf_counter() - t0)
        times[name] = float(np.median(runs))
        z = (out - truth.to_numpy()) / sd
        errors[name] = float(np.sqrt(np.mean(z[sporadic] ** 2)))
        print(f"{name:<18} {times[name]:7.1f} s (median of {args.repeats}), {len(imp.imputation_sequence_)} trees, "
              f"RMSE of the sporadic cells {errors[name]:.3f} SD", flush=True)
    print(f"speed-up {times['all columns'] / times['max_predictors=30']:.1f}x; {int(sporadic.sum())} sporadic cells, "
          f"3 block-missing rows imputed by block means")


if __name__ == "__main__":
    main()
