"""Time radiomix's nested cross-validation against the same procedure composed by hand (issue #6).

    python benchmarks/train.py            # 300 patients x 1,000 features, 5x5 nested CV, 20 candidates
    python benchmarks/train.py --quick    # 150 x 200, 5x3 nested CV, 5 candidates, mRMR 10

Both sides run the same pipeline on the same synthetic multi-site table (3 sites, additive and
multiplicative site effects, correlated features, binary outcome driven by a few features):

    ComBat (batch column ``site``) -> median imputation -> mRMR -> SMOTE -> XGBoost (100 trees)

with a random search over the same XGBoost space (``params/train_default.yaml``'s ``model.search``) on
the inner folds of every outer fold.

* radiomix: ``nested_cv(make_study(table, config_dict))``, timed over the whole 5-fold outer loop,
  with ``n_jobs=1`` (one process; radiomix leaves XGBoost's own threading on, capped by ``--threads``)
  and ``n_jobs=2`` (outer folds in 2 processes, XGBoost single-threaded). radiomix also fits 5 extra inner models per outer fold to choose the Youden threshold
  inside the training fold (its default), work the hand-composed version does not do.
* by hand: neuroCombat 0.2.12 (a small transformer below: ``neuroCombat.neuroCombat`` on the training rows,
  its gamma*/delta*/grand mean/pooled variance applied to new rows with the standard formula, because
  ``neuroCombatFromTraining`` fails on numpy 2), sklearn's median ``SimpleImputer``, ``mrmr.mrmr_classif``
  (mrmr-selection 0.2.8, defaults: ``n_jobs=-1``, i.e. joblib over both cores) wrapped as a selector, imbalanced-learn's ``SMOTE`` and
  ``xgboost.XGBClassifier``, in an imbalanced-learn Pipeline, tuned by
  ``RandomizedSearchCV(n_iter=20, cv=5)`` inside ``cross_val_predict`` over the outer folds (radiomix's
  outer folds, so that fold-by-fold AUCs compare). mrmr-selection takes seconds per call and the search
  calls it ~100 times per outer fold, so by default only ONE outer fold is run, and its time is
  extrapolated to the full 5x5 procedure (``--hand-folds 5`` runs every fold; ``--hand-candidates k`` tries
  k candidates and extrapolates linearly in the number of pipeline fits: k x inner + 1 per outer fold).
  Every extrapolated number is marked as such in the output.

Times are wall-clock seconds, medians over ``--repeats`` runs (one run by default on the full size).
``--threads 1`` (default) re-runs the script with OMP_THREAD_LIMIT / OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
MKL_NUM_THREADS = 1, so XGBoost, BLAS and every other OpenMP loop use one thread per process on both sides
and ``n_jobs`` alone decides the parallelism; ``--threads 0`` keeps the libraries' defaults (XGBoost then
uses every core in each fit, which on a small machine shared with other jobs mostly measures contention).
mrmr-selection and neuroCombat are GPL-3 test/benchmark references only, never imported by radiomix.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_selection import SelectorMixin

FULL = {"n": 300, "p": 1000, "mrmr": 20, "candidates": 20, "outer": 5, "inner": 5}
QUICK = {"n": 150, "p": 200, "mrmr": 10, "candidates": 5, "outer": 5, "inner": 3}
SEARCH = {  # params/train_default.yaml, model.search
    "max_depth": [2, 3, 4],
    "learning_rate": [0.03, 0.1, 0.3],
    "subsample": [0.7, 1.0],
    "colsample_bytree": [0.5, 0.8, 1.0],
    "min_child_weight": [1, 3, 5],
}
N_ESTIMATORS = 100
SEED = 0


# ------------------------------------------------------------------------------------------------- data
def make_table(n: int, p: int, n_sites: int = 3, seed: int = SEED) -> pd.DataFrame:
    """Synthetic multi-site radiomic table: ``id``, ``site``, ``y`` and ``p`` pyradiomics-named features.

    Features are blocks of correlated columns (latent factors plus noise) on very different scales. Each
    site shifts every feature (additive effect, ~0.5 sd) and scales its spread (multiplicative effect,
    lognormal sd 0.3), as ComBat assumes. The outcome (~35 % positive) is a logistic function of 4
    features before the site effects; prevalence differs a little between sites.
    """
    rng = np.random.default_rng(seed)
    site = np.sort(rng.choice(n_sites, size=n, p=np.linspace(1.4, 0.6, n_sites) / n_sites))
    n_factors = max(p // 25, 4)
    factors = rng.normal(size=(n, n_factors))
    loadings = rng.normal(size=(n_factors, p)) * (rng.random((n_factors, p)) < 0.15)
    Z = factors @ loadings + rng.normal(size=(n, p)) * rng.uniform(0.3, 1.5, p)
    Z = (Z - Z.mean(0)) / Z.std(0)
    signal = rng.choice(p, 4, replace=False)
    lin = Z[:, signal] @ np.array([1.0, -0.8, 0.7, 0.6]) + 0.3 * (site == 0) - 0.7
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    gamma = rng.normal(0, 0.5, (n_sites, p))
    delta = np.exp(rng.normal(0, 0.3, (n_sites, p)))
    Z = Z * delta[site] + gamma[site]
    scale, shift = rng.lognormal(0, 2, p), rng.normal(0, 5, p)
    X = Z * scale + shift * scale
    kinds = ("original", "log-sigma-2-0-mm-3D", "wavelet-LLH", "wavelet-HHH", "square")
    classes = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    cols = [f"{kinds[j % 5]}_{classes[(j // 5) % 6]}_Feature{j:04d}" for j in range(p)]
    table = pd.DataFrame(X, columns=cols)
    table.insert(0, "y", y)
    table.insert(0, "site", [f"site{k + 1}" for k in site])
    table.insert(0, "id", [f"P{i:04d}" for i in range(n)])
    return table.iloc[rng.permutation(n)].reset_index(drop=True)  # patients in random order, sites mixed


# ------------------------------------------------------------------------------------- hand-composed
_CALLS: dict[str, list[float]] = {"neuroCombat": [], "mrmr_classif": []}


class NeuroCombatHarmonizer(TransformerMixin, BaseEstimator):
    """neuroCombat as a scikit-learn transformer: fit on the training rows, apply to any rows.

    ``fit`` runs ``neuroCombat.neuroCombat`` (parametric empirical Bayes, no covariates) on the training
    rows and keeps its estimates; ``transform`` applies them with the standard ComBat formula

        x* = (((x - alpha) / sigma - gamma*_site) / sqrt(delta*_site)) * sigma + alpha

    (alpha: grand mean from B-hat, sigma^2: pooled variance), which on the training rows reproduces
    neuroCombat's own output. The batch column is dropped from the output.
    """

    def __init__(self, batch: str = "site"):
        self.batch = batch

    def fit(self, X: pd.DataFrame, y=None):
        from neuroCombat import neuroCombat

        t0 = time.perf_counter()
        self.features_ = [c for c in X.columns if c != self.batch]
        covars = pd.DataFrame({self.batch: X[self.batch].astype(str).to_numpy()})
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = neuroCombat(X[self.features_].to_numpy(float).T.copy(), covars, self.batch)["estimates"]
        self.levels_ = np.unique(covars[self.batch].to_numpy())  # neuroCombat codes batches in this order
        self.grand_mean_ = np.asarray(est["stand.mean"])[:, 0]
        self.sigma_ = np.sqrt(np.asarray(est["var.pooled"])[:, 0])
        self.gamma_ = np.asarray(est["gamma.star"])
        self.delta_ = np.asarray(est["delta.star"])
        _CALLS["neuroCombat"].append(time.perf_counter() - t0)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        site = X[self.batch].astype(str).to_numpy()
        code = np.searchsorted(self.levels_, site)
        if np.any(code >= self.levels_.size) or np.any(self.levels_[np.minimum(code, self.levels_.size - 1)] != site):
            raise ValueError("a site absent from the training rows")
        z = (X[self.features_].to_numpy(float) - self.grand_mean_) / self.sigma_
        z = (z - self.gamma_[code]) / np.sqrt(self.delta_[code])
        return pd.DataFrame(z * self.sigma_ + self.grand_mean_, index=X.index, columns=self.features_)

    def set_output(self, *, transform=None):
        return self  # always returns a DataFrame


class MRMRSelection(SelectorMixin, BaseEstimator):
    """``mrmr.mrmr_classif`` (mrmr-selection, default settings) as a scikit-learn selector."""

    def __init__(self, K: int = 20):
        self.K = K

    def fit(self, X: pd.DataFrame, y):
        import mrmr

        t0 = time.perf_counter()
        X = pd.DataFrame(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen = mrmr.mrmr_classif(X, pd.Series(np.asarray(y), index=X.index), K=self.K, show_progress=False)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.support_ = np.isin(self.feature_names_in_, list(chosen))
        _CALLS["mrmr_classif"].append(time.perf_counter() - t0)
        return self

    def _get_support_mask(self):
        return self.support_


def check_combat(X: pd.DataFrame) -> None:
    """Print how far the wrapper (on its training rows) is from neuroCombat's output and from radiomix's ComBat."""
    from neuroCombat import neuroCombat

    from radiomix.harmonize import ComBat

    feats = [c for c in X.columns if c != "site"]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = neuroCombat(X[feats].to_numpy(float).T.copy(), X[["site"]].astype(str), "site")["data"].T
    ours = NeuroCombatHarmonizer().fit(X).transform(X).to_numpy()
    rm = ComBat(batch="site", features=feats, drop_batch=True).fit_transform(X)[feats].to_numpy()
    _CALLS["neuroCombat"].clear()

    def rel(a):
        return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1e-12)))

    print(f"  check, all {len(X)} rows: max relative difference to neuroCombat's own output: wrapper "
          f"{rel(ours):.1e}, radiomix ComBat {rel(rm):.1e}", flush=True)


def hand_pipeline(k_mrmr: int):
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from sklearn.impute import SimpleImputer
    from xgboost import XGBClassifier

    return Pipeline([
        ("combat", NeuroCombatHarmonizer(batch="site")),
        ("impute", SimpleImputer(strategy="median")),
        ("mrmr", MRMRSelection(K=k_mrmr)),
        ("smote", SMOTE(random_state=SEED)),
        ("model", XGBClassifier(n_estimators=N_ESTIMATORS, eval_metric="logloss", random_state=SEED)),
    ]).set_output(transform="pandas")


def hand_search(size: dict, n_candidates: int):
    from sklearn.model_selection import RandomizedSearchCV

    space = {f"model__{k}": v for k, v in SEARCH.items()}
    return RandomizedSearchCV(hand_pipeline(size["mrmr"]), space, n_iter=n_candidates, cv=size["inner"],
                              scoring="roc_auc", random_state=SEED, refit=True)


# --------------------------------------------------------------------------------------------- radiomix
def radiomix_config(size: dict, n_jobs: int) -> dict:
    return {
        "target": "y", "id": "id", "batch": "site",
        "harmonize": {"method": "combat"},
        "impute": {"method": "median"},
        "select": {"mrmr": size["mrmr"]},
        "balance": {"method": "smote"},
        "search": {"n_candidates": size["candidates"]},
        "cv": {"outer": {"n_splits": size["outer"]}, "inner": {"n_splits": size["inner"]}},
        "bootstrap": 0, "final_model": False,
        "model": {"params": {"n_estimators": N_ESTIMATORS}, "search": SEARCH},
        "random_state": SEED, "n_jobs": n_jobs,
    }


def run_radiomix(table: pd.DataFrame, size: dict, n_jobs: int, repeats: int):
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    times, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = nested_cv(make_study(table, radiomix_config(size, n_jobs)), progress=False)
        times.append(time.perf_counter() - t0)
        print(f"  radiomix n_jobs={n_jobs}: {times[-1]:.1f} s, AUC {res.summary['auc']['estimate']:.3f}", flush=True)
    return statistics.median(times), times, res


# ------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="150 x 200, 5x3 CV, 5 candidates, mRMR 10")
    ap.add_argument("--repeats", type=int, default=None, help="radiomix runs per n_jobs setting (median; "
                    "default 1, quick 3)")
    ap.add_argument("--hand-folds", type=int, default=None, help="outer folds of the hand-composed version "
                    "actually run (default 1, quick: all)")
    ap.add_argument("--hand-candidates", type=int, default=None, help="candidates of the hand-composed search "
                    "actually run (default: as radiomix)")
    ap.add_argument("--skip-hand", action="store_true", help="time radiomix only")
    ap.add_argument("--skip-jobs", action="store_true", help="skip the n_jobs=2 run")
    ap.add_argument("--threads", type=int, default=1, help="threads per process for XGBoost/BLAS/OpenMP "
                    "(default 1; 0 = library defaults)")
    args = ap.parse_args(argv)
    if args.threads > 0 and os.environ.get("OMP_THREAD_LIMIT") != str(args.threads):
        # The limits must be in place before numpy/xgboost load their thread pools: run again with them.
        for var in ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *(sys.argv[1:] if argv is None else argv)])
    size = QUICK if args.quick else FULL
    repeats = args.repeats or (3 if args.quick else 1)
    hand_folds = min(args.hand_folds or (size["outer"] if args.quick else 1), size["outer"])
    hand_k = min(args.hand_candidates or size["candidates"], size["candidates"])

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]  # benchmarks/mrmr.py
    sys.path.insert(0, os.path.dirname(here))  # this checkout's radiomix
    from importlib.metadata import version

    import radiomix
    from radiomix.model_selection.validation import roc_auc

    vers = {d: version(d) for d in ("scikit-learn", "imbalanced-learn", "xgboost", "neuroCombat", "mrmr-selection")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; python {platform.python_version()}, "
          f"threads per process {args.threads or 'library default'}; numpy {np.__version__}, radiomix {getattr(radiomix, '__version__', '?')}, "
          + ", ".join(f"{k} {v}" for k, v in vers.items()))
    table = make_table(size["n"], size["p"])
    n, inner, outer, K = size["n"], size["inner"], size["outer"], size["candidates"]
    print(f"data: {n} patients x {size['p']} features, sites {table['site'].value_counts().sort_index().tolist()}, "
          f"{table['y'].mean():.0%} positive; {outer}x{inner} nested CV, {K} candidates, mRMR {size['mrmr']}, "
          f"XGBoost {N_ESTIMATORS} trees", flush=True)

    rows = []
    t1, times1, res1 = run_radiomix(table, size, 1, repeats)
    fold_auc = dict(zip(res1.folds["fold"], res1.folds["auc"]))
    fold_sec = dict(zip(res1.folds["fold"], res1.folds["seconds"]))
    rows.append({"procedure": "radiomix nested_cv, n_jobs=1", "run": f"full ({repeats} run(s))",
                 "measured_s": t1, "full_s": t1, "per_fold_s": t1 / outer, "extrapolated": "no",
                 "auc": res1.summary["auc"]["estimate"]})
    t2 = None
    if not args.skip_jobs:
        t2, _, res2 = run_radiomix(table, size, 2, repeats)
        rows.append({"procedure": "radiomix nested_cv, n_jobs=2", "run": f"full ({repeats} run(s))",
                     "measured_s": t2, "full_s": t2, "per_fold_s": t2 / outer, "extrapolated": "no",
                     "auc": res2.summary["auc"]["estimate"]})

    hand = None
    if not args.skip_hand:
        from sklearn.model_selection import cross_val_predict

        # radiomix's own outer folds, so that the hand-composed fold AUCs compare fold by fold.
        pos = pd.Series(np.arange(n), index=table["id"].astype(str))
        oof = res1.oof
        splits = []
        for k in range(outer):
            test = np.sort(pos[oof.loc[oof["fold"] == k, "id"].astype(str)].to_numpy())
            splits.append((np.setdiff1d(np.arange(n), test), test))
        X = table.drop(columns=["id", "y"])
        y = table["y"].to_numpy()
        check_combat(X)
        search = hand_search(size, hand_k)
        for v in _CALLS.values():
            v.clear()
        print(f"  by hand: {hand_folds} outer fold(s), {hand_k} candidates x {inner} inner folds ...", flush=True)
        t0 = time.perf_counter()
        if hand_folds == outer:
            proba = cross_val_predict(search, X, y, cv=splits, method="predict_proba")[:, 1]
            fold_aucs = [roc_auc(y[te], proba[te]) for _, te in splits]
            auc_hand, auc_rm_same = roc_auc(y, proba), res1.summary["auc"]["estimate"]
        else:
            fold_aucs = []
            for tr, te in splits[:hand_folds]:
                fitted = clone(search).fit(X.iloc[tr], y[tr])
                fold_aucs.append(roc_auc(y[te], fitted.predict_proba(X.iloc[te])[:, 1]))
            auc_hand = float(np.mean(fold_aucs))
            auc_rm_same = float(np.mean([fold_auc[k] for k in range(hand_folds)]))
        t_hand = time.perf_counter() - t0
        per_fold = t_hand / hand_folds
        fits_run, fits_full = hand_k * inner + 1, K * inner + 1
        per_fold_full = per_fold * fits_full / fits_run
        full_hand = per_fold_full * outer
        extrap = []
        if hand_folds < outer:
            extrap.append(f"{hand_folds} of {outer} outer folds run")
        if hand_k < K:
            extrap.append(f"{hand_k} of {K} candidates run ({fits_run} of {fits_full} fits per fold)")
        mr = _CALLS["mrmr_classif"]
        nc = _CALLS["neuroCombat"]
        print(f"  by hand: {t_hand:.1f} s for {hand_folds} fold(s); fold AUC(s) "
              f"{', '.join(f'{a:.3f}' for a in fold_aucs)} (radiomix, same fold(s): "
              f"{', '.join(f'{fold_auc[k]:.3f}' for k in range(hand_folds))}); mrmr_classif {len(mr)} calls, "
              f"median {statistics.median(mr):.2f} s, {sum(mr):.0f} s in all ({sum(mr) / t_hand:.0%}); neuroCombat "
              f"{len(nc)} calls, median {statistics.median(nc):.3f} s", flush=True)
        rows.append({"procedure": "by hand (neuroCombat, mrmr-selection, imblearn, xgboost)",
                     "run": f"{hand_folds} outer fold(s), {hand_k} cand.", "measured_s": t_hand,
                     "full_s": full_hand, "per_fold_s": per_fold_full,
                     "extrapolated": "; ".join(extrap) if extrap else "no",
                     "auc": auc_hand if hand_folds == outer else np.nan, "auc_same_folds": auc_hand})
        for row in rows[:-1]:  # radiomix on the very fold(s) the hand-composed version ran
            row["auc_same_folds"] = auc_rm_same
        hand = {"full": full_hand, "per_fold": per_fold_full, "auc": auc_hand, "auc_rm": auc_rm_same,
                "folds": hand_folds, "extrap": bool(extrap)}

    print()
    out = pd.DataFrame(rows).rename(columns={"auc": "auc_pooled_oof"})
    if hand is not None and hand["folds"] == outer:
        out = out.drop(columns="auc_same_folds")  # the same as the pooled AUC
    elif hand is not None:
        out = out.rename(columns={"auc_same_folds": f"auc_fold{'s' if hand['folds'] > 1 else ''}_0-{hand['folds'] - 1}"})
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    print(f"radiomix per outer fold (last n_jobs=1 run): median {res1.folds['seconds'].median():.2f} s, range "
          f"{res1.folds['seconds'].min():.2f}-{res1.folds['seconds'].max():.2f} s over {outer} folds")
    if t2 is not None:
        print(f"radiomix n_jobs speed-up (n_jobs=1 / n_jobs=2, full {outer}-fold run, measured): {t1 / t2:.2f}x")
    if hand is not None:
        mark = " (EXTRAPOLATED from the measured fold(s), see 'extrapolated')" if hand["extrap"] else ""
        print(f"full {outer}x{inner} nested CV: by hand {hand['full']:.1f} s{mark} vs radiomix n_jobs=1 "
              f"{t1:.1f} s measured: ratio hand/radiomix {hand['full'] / t1:.3g}x")
        same = [fold_sec[k] for k in range(hand["folds"])]
        print(f"per outer fold: by hand {hand['per_fold']:.1f} s{' (extrapolated)' if hand_k < K else ''} vs radiomix "
              f"{statistics.mean(same):.2f} s on the same fold(s) (last n_jobs=1 run): "
              f"{hand['per_fold'] / statistics.mean(same):.3g}x")
        what = "pooled out-of-fold AUC" if hand["folds"] == outer else f"AUC on outer fold(s) 0..{hand['folds'] - 1}"
        print(f"{what}: by hand {hand['auc']:.3f}, radiomix {hand['auc_rm']:.3f}; radiomix pooled out-of-fold AUC "
              f"{res1.summary['auc']['estimate']:.3f}")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
