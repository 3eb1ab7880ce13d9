"""Imputation benchmark: SurrogateTreeImputer against mean/median, kNN and IterativeImputer on real tables.

For each table, cells are hidden completely at random (MCAR 10/20/40%) or at random given an observed
column (MAR, 20%: the chance that a cell is hidden rises with a fully observed "driver" column, for half the
columns, and falls with it for the other half). Reported per method:

* NRMSE over hidden numeric cells, each column in units of its standard deviation (median over masks);
* error rate over hidden categorical cells;
* out-of-fold AUC of a fixed classifier (one-hot + standardise + L2 logistic regression, C=1, 5-fold
  stratified CV) with the imputer fitted inside each training fold;
* fit_transform and transform time on the whole table (median over masks).

Then the size check: a 1,000 x 200 table with 20% missing values (10 latent factors + noise) imputed on
one core.

    python benchmarks/impute.py [--repeats 3] [--quick] [--skip-auc] [--skip-size]

Tables: scikit-learn's breast-cancer and diabetes (``sex`` as a category), and from ../shared/data the
NSCLC radiogenomics table (CaPTk CT features + clinical columns after radiomix.tables.merge; real missing
values plus the hidden ones) and HEAD-NECK-RADIOMICS-HN1 (105 pyradiomics features).
"""

from __future__ import annotations

import os

# One BLAS thread, so that every method gets the same single core. (On a small shared machine, threaded BLAS
# inside IterativeImputer's many small fits was much slower from oversubscription; not measured here.)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes  # noqa: E402
from sklearn.experimental import enable_iterative_imputer  # noqa: E402, F401
from sklearn.impute import IterativeImputer, SimpleImputer  # noqa: E402
from sklearn.impute import KNNImputer as SkKNNImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radiomix.impute import MixedKNNImputer, SurrogateTreeImputer  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data" / "tables").resolve()


# --------------------------------------------------------------------------------------------------
# tables: (X DataFrame with float and category columns, binary y, MAR driver column)
# --------------------------------------------------------------------------------------------------


def _breast():
    b = load_breast_cancer(as_frame=True)
    return b.data, (b.target == 0).astype(int).to_numpy(), "mean radius"


def _diabetes():
    d = load_diabetes(scaled=False, as_frame=True).frame
    X = d.drop(columns="target")
    X["sex"] = pd.Categorical(np.where(X["sex"] == 1, "F", "M"))
    return X, (d["target"] > d["target"].median()).astype(int).to_numpy(), "age"


def _horng():
    from radiomix.tables import merge

    d = SHARED / "horng_nsclc_radiogenomics_captk"
    rad = pd.read_csv(d / "Sandy-Captk.csv", encoding="utf-8-sig", na_values=["#NAME?"])
    cli = pd.read_csv(d / "clinical-demographics.csv")
    cli = cli.rename(columns={cli.columns[0]: "SubjectID"})
    m = merge(rad, clinical=cli, on="SubjectID", how="inner", verbose=False)
    y = m["event"].to_numpy().astype(int)
    # "days" is follow-up time: it leaks the label. Columns with < 10 distinct values stay numeric here
    # (0/1 codes) as merge typed them; the three text columns are categories.
    X = m.drop(columns=["event", "days"])
    return X, y, "T1_ED_Volumetric_Volume"


def _hn1():
    d = pd.read_csv(SHARED / "radmlbench_hn1" / "Head-Neck-Radiomics-HN1.csv")
    y = d["Target"].to_numpy().astype(int)
    X = d.drop(columns=["ID", "Target"]).astype(float)
    return X, y, "GTV-1_original_shape_MeshVolume"


TABLES = {"breast_cancer": _breast, "diabetes": _diabetes, "horng_nsclc": _horng, "hn1_radiomics": _hn1}


def _mask(X, pattern, rate, driver, rng):
    """Boolean frame of cells to hide (only cells observed in X; the driver is never hidden under MAR)."""
    n, p = X.shape
    if pattern == "MCAR":
        m = rng.random((n, p)) < rate
    else:
        z = X[driver].to_numpy(float)
        z = (z - np.nanmean(z)) / np.nanstd(z)
        z = np.nan_to_num(z)
        m = np.zeros((n, p), dtype=bool)
        for j in range(p):
            if X.columns[j] == driver:
                continue
            s = 2.0 * (z if j % 2 == 0 else -z)
            # Intercept chosen so that the column's expected missing rate is `rate`.
            lo, hi = -20.0, 20.0
            for _ in range(60):
                a = (lo + hi) / 2
                if np.mean(1 / (1 + np.exp(-(a + s)))) > rate:
                    hi = a
                else:
                    lo = a
            m[:, j] = rng.random(n) < 1 / (1 + np.exp(-(a + s)))
    m &= X.notna().to_numpy()
    # Keep every column observed somewhere and every row observed somewhere.
    for j in range(p):
        obs = np.flatnonzero(X.iloc[:, j].notna().to_numpy() & ~m[:, j])
        if obs.size < 5:
            m[rng.choice(np.flatnonzero(m[:, j]), 5 - obs.size, replace=False), j] = False
    return m


# --------------------------------------------------------------------------------------------------
# methods: fit on a training frame, return a function imputing any frame (categories kept)
# --------------------------------------------------------------------------------------------------


def _codes(X):
    out = np.empty(X.shape)
    for j, c in enumerate(X.columns):
        s = X[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            k = s.cat.codes.to_numpy().astype(float)
            k[k < 0] = np.nan
            out[:, j] = k
        else:
            out[:, j] = s.to_numpy(float)
    return out


def _decode(A, like):
    cols = {}
    for j, c in enumerate(like.columns):
        s = like[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            k = len(s.cat.categories)
            codes = np.clip(np.rint(A[:, j]), 0, k - 1).astype(int)
            cols[c] = pd.Categorical.from_codes(codes, categories=s.cat.categories)
        else:
            cols[c] = A[:, j]
    return pd.DataFrame(cols, index=like.index)


def _sk_method(make):
    """scikit-learn imputers see categories as codes; imputed codes are rounded to a valid level."""

    def fit(Xtr):
        cat = np.array([isinstance(Xtr[c].dtype, pd.CategoricalDtype) for c in Xtr.columns])
        imp = make(cat).fit(_codes(Xtr))
        return lambda X: _decode(imp.transform(_codes(X)), X)

    return fit


class _MeanMode:
    def __init__(self, cat, strategy):
        self.cat, self.strategy = cat, strategy

    def fit(self, A):
        self.num = SimpleImputer(strategy=self.strategy).fit(A[:, ~self.cat]) if (~self.cat).any() else None
        self.mode = SimpleImputer(strategy="most_frequent").fit(A[:, self.cat]) if self.cat.any() else None
        return self

    def transform(self, A):
        A = A.copy()
        if self.num is not None:
            A[:, ~self.cat] = self.num.transform(A[:, ~self.cat])
        if self.mode is not None:
            A[:, self.cat] = self.mode.transform(A[:, self.cat])
        return A


def _rx_method(make):
    def fit(Xtr):
        imp = make().set_output(transform="pandas").fit(Xtr)
        return imp.transform

    return fit


METHODS = {
    "mean": _sk_method(lambda cat: _MeanMode(cat, "mean")),
    "median": _sk_method(lambda cat: _MeanMode(cat, "median")),
    "sklearn_knn": _sk_method(lambda cat: SkKNNImputer(n_neighbors=5)),
    "radiomix_knn": _rx_method(lambda: MixedKNNImputer(n_neighbors=5)),
    "iterative_br": _sk_method(lambda cat: IterativeImputer(max_iter=10, random_state=0)),
    "surrogate_1": _rx_method(lambda: SurrogateTreeImputer(max_iter=1)),
    "surrogate_tree": _rx_method(lambda: SurrogateTreeImputer()),
}


def _errors(Ximp, Xtrue, hidden):
    num_err, cat_wrong, cat_n = [], 0, 0
    for j, c in enumerate(Xtrue.columns):
        h = hidden[:, j]
        if not h.any():
            continue
        if isinstance(Xtrue[c].dtype, pd.CategoricalDtype):
            cat_wrong += int((Ximp[c].to_numpy()[h] != Xtrue[c].to_numpy()[h]).sum())
            cat_n += int(h.sum())
        else:
            sd = np.nanstd(Xtrue[c].to_numpy(float))
            sd = sd if sd > 0 else 1.0
            num_err.append((Ximp[c].to_numpy(float)[h] - Xtrue[c].to_numpy(float)[h]) / sd)
    nrmse = float(np.sqrt(np.mean(np.concatenate(num_err) ** 2))) if num_err else np.nan
    return nrmse, (cat_wrong / cat_n if cat_n else np.nan)


def _design(Xa, Xb):
    """One-hot categories and standardise numbers with the training part's statistics."""
    parts_a, parts_b = [], []
    for c in Xa.columns:
        if isinstance(Xa[c].dtype, pd.CategoricalDtype):
            cats = Xa[c].cat.categories
            parts_a.append((Xa[c].to_numpy()[:, None] == np.asarray(cats)[None, :]).astype(float))
            parts_b.append((Xb[c].to_numpy()[:, None] == np.asarray(cats)[None, :]).astype(float))
        else:
            a, b = Xa[c].to_numpy(float), Xb[c].to_numpy(float)
            mu, sd = a.mean(), a.std()
            sd = sd if sd > 0 else 1.0
            parts_a.append(((a - mu) / sd)[:, None])
            parts_b.append(((b - mu) / sd)[:, None])
    return np.hstack(parts_a), np.hstack(parts_b)


def _oof_auc(fit, Xm, y, seed=0):
    oof = np.empty(len(y))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(Xm, y):
        imp = fit(Xm.iloc[tr])
        A, B = _design(imp(Xm.iloc[tr]), imp(Xm.iloc[te]))
        clf = LogisticRegression(C=1.0, max_iter=5000).fit(A, y[tr])
        oof[te] = clf.predict_proba(B)[:, 1]
    return roc_auc_score(y, oof)


def run_table(name, X, y, driver, settings, repeats, do_auc, methods):
    rows = []
    for pattern, rate in settings:
        for method in methods:
            fit = METHODS[method]
            nr, ce, tf, tt = [], [], [], []
            for rep in range(repeats):
                rng = np.random.default_rng(1000 * rep + int(rate * 100) + (7 if pattern == "MAR" else 0))
                hidden = _mask(X, pattern, rate, driver, rng)
                Xm = X.mask(hidden)
                t0 = time.perf_counter()
                imp = fit(Xm)
                out = imp(Xm)
                t1 = time.perf_counter()
                imp(Xm)
                t2 = time.perf_counter()
                a, b = _errors(out, X, hidden)
                assert out.isna().sum().sum() == 0, (name, method)
                nr.append(a)
                ce.append(b)
                tf.append(t1 - t0)
                tt.append(t2 - t1)
                if rep == 0 and do_auc:
                    auc = _oof_auc(fit, Xm, y)
            rows.append(dict(table=name, pattern=f"{pattern} {int(rate * 100)}%", method=method,
                             nrmse=np.median(nr), cat_error=np.median(ce) if not np.all(np.isnan(ce)) else np.nan,
                             auc=auc if do_auc else np.nan, fit_s=np.median(tf), transform_s=np.median(tt)))
            r = rows[-1]
            print(f"  {name:14s} {r['pattern']:9s} {method:15s} nrmse={r['nrmse']:.3f} cat_err={r['cat_error']:.3f} "
                  f"auc={r['auc']:.3f} fit={r['fit_s']:.2f}s", flush=True)
    return rows


def size_check(one_core=True, repeats=3):
    """1,000 x 200, 20% MCAR, SurrogateTreeImputer pinned to one core; median of ``repeats`` runs."""
    if one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    F = rng.normal(size=(1000, 10))
    X = F @ rng.normal(size=(10, 200)) + rng.normal(size=(1000, 200))
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.2] = np.nan
    SurrogateTreeImputer(max_iter=1).fit(Xm[:60, :20])  # load the compiled kernels first
    out = {}
    for label, kw in (("max_iter=1", dict(max_iter=1)), ("default", {})):
        fits, trans = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            imp = SurrogateTreeImputer(**kw)
            Xi = imp.fit_transform(Xm)
            fits.append(time.perf_counter() - t)
            t = time.perf_counter()
            imp.transform(Xm)
            trans.append(time.perf_counter() - t)
        el, tr = float(np.median(fits)), float(np.median(trans))
        h = np.isnan(Xm)
        nrmse = float(np.sqrt(np.mean(((Xi - X) / X.std(axis=0))[h] ** 2)))
        out[label] = (el, tr, imp.n_iter_, nrmse)
        print(f"  1000x200 20% MCAR {label:11s}: fit_transform {el:.1f}s (median of {repeats}; "
              f"{min(fits):.1f}-{max(fits):.1f}s), transform {tr:.1f}s, "
              f"rounds {imp.n_iter_}, NRMSE {nrmse:.3f}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="masks per setting (medians are reported)")
    ap.add_argument("--quick", action="store_true", help="one mask, MCAR 20%% and MAR only")
    ap.add_argument("--skip-auc", action="store_true")
    ap.add_argument("--skip-size", action="store_true")
    ap.add_argument("--tables", nargs="*", default=list(TABLES))
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    settings = [("MCAR", 0.2), ("MAR", 0.2)] if args.quick else [("MCAR", 0.1), ("MCAR", 0.2), ("MCAR", 0.4),
                                                                ("MAR", 0.2)]
    repeats = 1 if args.quick else args.repeats
    rows = []
    for name in args.tables:
        try:
            X, y, driver = TABLES[name]()
        except FileNotFoundError as e:
            print(f"skipping {name}: {e}")
            continue
        print(f"{name}: {X.shape[0]} rows x {X.shape[1]} columns, {int(X.isna().sum().sum())} cells missing already",
              flush=True)
        rows += run_table(name, X, y, driver, settings, repeats, not args.skip_auc, args.methods)
    res = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print()
        print(res.to_string(index=False))
        methods = set(res["method"]) if len(res) else set()
        if "surrogate_tree" in methods and len(methods) > 1:
            wide = res.pivot_table(index=["table", "pattern"], columns="method", values="nrmse")
            print()
            print("NRMSE (rows: table x pattern):")
            print(wide.to_string())
            if {"mean", "sklearn_knn", "radiomix_knn"} <= methods:
                best_knn = wide[["sklearn_knn", "radiomix_knn"]].min(axis=1)
                wins = (wide["surrogate_tree"] < wide["mean"]) & (wide["surrogate_tree"] < best_knn)
                print(f"\nsurrogate_tree beats mean and both kNNs on NRMSE in {int(wins.sum())} of {len(wins)} "
                      "settings")
            for other in ("mean", "sklearn_knn", "radiomix_knn", "iterative_br", "surrogate_1"):
                if other in methods:
                    n_win = int((wide["surrogate_tree"] < wide[other]).sum())
                    print(f"  surrogate_tree < {other}: {n_win} of {len(wide)}")
            if "surrogate_1" in methods:
                # The default imputer's later rounds against its first round alone (max_iter=1).
                better = wide["surrogate_tree"] < wide["surrogate_1"]
                print(f"\niterative rounds (surrogate_tree) improve on the single surrogate pass (surrogate_1) in "
                      f"{int(better.sum())} of {len(better)} settings")
                for (table, pattern), r in wide.loc[~better, ["surrogate_tree", "surrogate_1"]].iterrows():
                    print(f"  not in {table} {pattern}: {r['surrogate_tree']:.3f} vs {r['surrogate_1']:.3f}")
                gain = (wide["surrogate_1"] - wide["surrogate_tree"]).idxmax()
                print(f"  largest gain: {gain[0]} {gain[1]}, {wide.loc[gain, 'surrogate_1']:.3f} -> "
                      f"{wide.loc[gain, 'surrogate_tree']:.3f}")
    if not args.skip_size:
        print("\nsize check (one core):")
        size_check()
    return res


if __name__ == "__main__":
    main()
