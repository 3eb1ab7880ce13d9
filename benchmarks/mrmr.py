"""Time radiomix.select.MRMRSelector against mrmr-selection and check that both select the same features.

    python benchmarks/mrmr.py            # 300x1,000 (K=20), 500x2,000 (K=30), 1,000x5,000 (K=50)
    python benchmarks/mrmr.py --quick    # 300x1,000 only, fewer repeats

Prints one row per size: median wall time of each implementation (number of runs in brackets), the speed-up
(mrmr-selection time / radiomix time), and whether the two selections (features and order) are identical.
The data are a synthetic radiomics-like table: blocks of correlated features on very different scales and a
binary outcome. mrmr-selection (GPL-3) is a benchmark/test reference only, never a radiomix dependency; it
runs with its defaults (n_jobs=-1, i.e. all cores). Exit status 1 if any selection differs.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

SIZES = [(300, 1000, 20), (500, 2000, 30), (1000, 5000, 50)]


def make_table(n_samples: int, n_features: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    n_factors = max(n_features // 25, 4)
    factors = rng.normal(size=(n_samples, n_factors))
    loadings = rng.normal(size=(n_factors, n_features)) * (rng.random((n_factors, n_features)) < 0.15)
    X = factors @ loadings + rng.normal(size=(n_samples, n_features)) * rng.uniform(0.2, 2.0, n_features)
    X = X * rng.lognormal(0, 2, n_features) + rng.normal(0, 5, n_features) * rng.lognormal(0, 2, n_features)
    y = (factors[:, 0] - factors[:, 1] + 0.7 * rng.normal(size=n_samples) > 0).astype(int)
    columns = [
        f"{('original', 'log', 'wavelet-LLH', 'wavelet-HHH', 'square')[j % 5]}_f{j}"
        for j in range(n_features)
    ]
    return pd.DataFrame(X, columns=columns), pd.Series(y, name="outcome")


def timed(func, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smallest size only, fewer repeats")
    parser.add_argument(
        "--repeats", type=int, default=None, help="radiomix runs per size (default 7, quick 3)"
    )
    parser.add_argument(
        "--oracle-repeats", type=int, default=None, help="mrmr-selection runs per size (default 3, quick 1)"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    oracle_repeats = args.oracle_repeats or (1 if args.quick else 3)
    sizes = SIZES[:1] if args.quick else SIZES

    # This file is itself named mrmr.py: take its folder off the path so that the import finds the package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path.insert(0, os.path.dirname(here))  # benchmark this checkout's radiomix
    try:
        with warnings.catch_warnings():  # mrmr-selection switches all warnings off at import
            import mrmr
        from importlib.metadata import version

        mrmr_version = version("mrmr-selection")
    except ImportError:
        print("mrmr-selection is not installed (pip install mrmr-selection); nothing to compare against.")
        return 2
    from radiomix.select import MRMRSelector

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}, mrmr-selection {mrmr_version}"
    )
    header = f"{'n x p':>12} {'K':>3} {'mrmr-selection s':>18} {'radiomix s':>14} {'speed-up':>9}  identical"
    print(header)
    print("-" * len(header))
    all_same = True
    for n_samples, n_features, K in sizes:
        X, y = make_table(n_samples, n_features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_ref, ref = timed(
                functools.partial(mrmr.mrmr_classif, X, y, K=K, show_progress=False), oracle_repeats
            )
        t_ours, selector = timed(functools.partial(MRMRSelector(K).fit, X, y), repeats)
        ours = selector.selected_features_
        same = list(ref) == list(ours)
        all_same &= same
        print(
            f"{n_samples:>5} x {n_features:<5} {K:>3} {t_ref:>13.3f} [{oracle_repeats}] {t_ours:>9.4f} [{repeats}] "
            f"{t_ref / t_ours:>8.0f}x  {'yes' if same else 'NO'}"
        )
        sys.stdout.flush()
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
