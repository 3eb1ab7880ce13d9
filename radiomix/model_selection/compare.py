"""Comparing two procedures evaluated on the same outer folds, with an interval that accounts for refitting.

A paired bootstrap of out-of-fold predictions treats the predictions as fixed: it answers "on these patients,
with these fitted models", not "would the procedure beat the baseline again if refitted". The same XGBoost
procedure with only its seed changed gave bootstrap intervals excluding 0 in 2 of 15 pairs. The corrected
resampled t-test of Nadeau & Bengio (2003, Machine Learning 52:239-281), as recommended by Bouckaert & Frank
(2004, PAKDD), uses the per-fold differences of the two procedures (each fold a refit of both) and inflates their
variance for the overlap of training sets between folds:

    d_j = metric(model, fold j) - metric(baseline, fold j),   j = 1..J  (J = k folds x r repeats)
    var_corrected = (1 / J + n_test / n_train) * s_d^2,       t = mean(d) / sqrt(var_corrected),  df = J - 1

Its interval, ``mean(d) +- t_{df, 1 - alpha/2} sqrt(var_corrected)``, includes the variability of refitting
(seeds, tuning, the training sample) that the bootstrap of fixed predictions cannot see. With leave-site-out
folds each fold is one site, and the mean of per-site differences is exactly the difference of the mean
per-site metrics (the run's headline then).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fold_scores", "corrected_resampled_ttest", "refit_aware_difference"]


def fold_scores(task, y, oof: pd.DataFrame, ids, score_columns) -> pd.DataFrame:
    """The task's headline metric on each outer fold's test rows: a frame indexed by (repeat, fold) with
    ``score`` and ``n_test``. ``oof``: a run's out-of-fold frame (id, repeat, fold and ``score_columns``);
    ``y``: the encoded target in ``ids`` order."""
    y = np.asarray(y)
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(np.asarray(ids).astype(str)))
    rows = []
    repeat = oof["repeat"] if "repeat" in oof.columns else pd.Series(0, index=oof.index)
    for (r, f), part in oof.assign(repeat=repeat).groupby(["repeat", "fold"], sort=True):
        idx = pos.reindex(part["id"].astype(str)).to_numpy()
        p = part[list(score_columns)].to_numpy(float)
        p = p[:, 0] if p.shape[1] == 1 else p
        rows.append({"repeat": int(r), "fold": int(f), "score": float(task.headline_score(y[idx], p)),
                     "n_test": int(len(part))})
    return pd.DataFrame(rows).set_index(["repeat", "fold"])


def corrected_resampled_ttest(differences, n_train, n_test, *, alpha: float = 0.05) -> dict:
    """Nadeau & Bengio's corrected resampled t-test of per-fold differences (NaN folds left out, counted).

    ``n_train``/``n_test``: training and test sizes (the mean over folds when they vary). Returns the mean
    difference, its corrected standard error, the ``1 - alpha`` interval, t, df and the two-sided p-value."""
    from scipy.stats import t as student_t

    d = np.asarray(differences, float)
    usable = d[np.isfinite(d)]
    J = len(usable)
    out = {"difference": float(np.mean(usable)) if J else np.nan, "n_folds": int(J),
           "n_folds_not_scored": int(len(d) - J), "method": "corrected resampled t-test (Nadeau & Bengio 2003)"}
    if J < 2:
        return {**out, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "t": np.nan, "df": max(J - 1, 0),
                "p_value": np.nan}
    ratio = float(np.mean(n_test)) / float(np.mean(n_train))
    var = (1.0 / J + ratio) * float(np.var(usable, ddof=1))
    se = float(np.sqrt(var))
    df = J - 1
    q = float(student_t.ppf(1 - alpha / 2, df))
    if se > 0:
        t_stat = out["difference"] / se
        p = float(2 * student_t.sf(abs(t_stat), df))
    else:  # every fold gave the same difference
        t_stat = np.inf * np.sign(out["difference"]) if out["difference"] else np.nan
        p = 0.0 if out["difference"] else 1.0
    return {**out, "se": se, "ci_low": out["difference"] - q * se, "ci_high": out["difference"] + q * se,
            "t": float(t_stat), "df": int(df), "p_value": p, "test_train_ratio": ratio}


def _fold_of(oof: pd.DataFrame) -> set:
    repeat = oof["repeat"] if "repeat" in oof.columns else pd.Series(0, index=oof.index)
    return set(zip(oof["id"].astype(str), repeat.astype(int), oof["fold"].astype(int)))


def refit_aware_difference(task, y, oof_model: pd.DataFrame, oof_base: pd.DataFrame, ids, score_columns, *,
                           n_rows: int, alpha: float = 0.05) -> dict:
    """Model minus baseline: per-fold headline differences of two runs on the same outer folds, tested with
    :func:`corrected_resampled_ttest`. ``n_rows``: rows of the study (training size = n_rows - n_test)."""
    if _fold_of(oof_model) != _fold_of(oof_base):
        raise ValueError("the two runs were not evaluated on the same outer folds")
    a = fold_scores(task, y, oof_model, ids, score_columns)
    b = fold_scores(task, y, oof_base, ids, score_columns)
    diff = (a["score"] - b["score"]).to_numpy()
    n_test = a["n_test"].to_numpy(float)
    res = corrected_resampled_ttest(diff, n_rows - n_test, n_test, alpha=alpha)
    return {**res, "per_fold": [round(float(v), 6) for v in diff]}
