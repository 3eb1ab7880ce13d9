"""Statistics for comparing procedures over many tables (Demšar 2006; Nadeau & Bengio 2003).

Per table: the mean of the outer folds' AUCs with a confidence interval, and paired tests between two methods on
the same folds with the corrected resampled t-test (the folds' training sets overlap, so the plain paired t-test is
far too liberal; Nadeau & Bengio's variance correction ``1/J + n_test/n_train``). Across tables: ranks (1 = best,
ties averaged), the Friedman test with Iman-Davenport's F, the Nemenyi critical difference of mean ranks, and
paired Wilcoxon signed-rank tests of each method against each reference with Holm's correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["corrected_ttest", "fold_interval", "rank_table", "friedman", "nemenyi_q", "nemenyi_cd",
           "cliques", "holm", "wilcoxon_holm", "wins_ties_losses"]


def corrected_ttest(diff, n_train: float, n_test: float) -> dict:
    """Nadeau & Bengio's corrected resampled t-test of paired per-fold differences ``diff`` (method minus
    reference on the same folds): ``t = mean / sqrt((1/J + n_test/n_train) * s^2)``, ``J - 1`` degrees of freedom.
    Returns ``mean``, ``t``, ``p`` (two-sided) and the 95 % interval of the mean difference. With
    ``n_test = 0`` it is the ordinary paired t-test."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    J = len(d)
    if J < 2:
        return {"mean": float(d.mean()) if J else float("nan"), "t": float("nan"), "p": float("nan"),
                "ci_low": float("nan"), "ci_high": float("nan"), "n": J}
    mean, var = float(d.mean()), float(d.var(ddof=1))
    se = np.sqrt((1.0 / J + float(n_test) / float(n_train)) * var)
    if se == 0:
        t = 0.0 if mean == 0 else np.copysign(np.inf, mean)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), J - 1))
    half = float(stats.t.ppf(0.975, J - 1) * se)
    return {"mean": mean, "t": float(t), "p": p, "ci_low": mean - half, "ci_high": mean + half, "n": J}


def fold_interval(scores, n_train: float, n_test: float) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of per-fold scores with the corrected 95 % t interval (the same variance
    correction as :func:`corrected_ttest`)."""
    r = corrected_ttest(np.asarray(scores, dtype=float), n_train, n_test)
    return r["mean"], r["ci_low"], r["ci_high"]


def rank_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-table ranks of ``scores`` (rows: tables, columns: methods; higher is better): 1 = best, ties get the
    average rank."""
    r = np.vstack([stats.rankdata(-row) for row in scores.to_numpy(dtype=float)])
    return pd.DataFrame(r, index=scores.index, columns=scores.columns)


def friedman(scores: pd.DataFrame) -> dict:
    """Friedman's test that all methods rank alike over the tables (rows), with Iman & Davenport's F version
    (Demšar 2006, eq. 1-2). Needs at least 3 methods and 2 tables."""
    N, k = scores.shape
    if k < 3 or N < 2:
        return {"chi2": float("nan"), "p": float("nan"), "F": float("nan"), "p_F": float("nan"), "N": N, "k": k}
    chi2, p = stats.friedmanchisquare(*[scores[c].to_numpy(dtype=float) for c in scores.columns])
    denom = N * (k - 1) - chi2
    F = float((N - 1) * chi2 / denom) if denom > 0 else float("inf")
    p_F = float(stats.f.sf(F, k - 1, (k - 1) * (N - 1))) if np.isfinite(F) else 0.0
    return {"chi2": float(chi2), "p": float(p), "F": F, "p_F": p_F, "N": N, "k": k}


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """The Nemenyi test's critical value q_alpha for ``k`` methods: the studentized range quantile over sqrt(2)
    (Demšar 2006, Table 5a: 1.960, 2.343, 2.569 ... for k = 2, 3, 4 at alpha 0.05)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def nemenyi_cd(k: int, n_tables: int, alpha: float = 0.05) -> float:
    """Critical difference of mean ranks: ``q_alpha * sqrt(k (k + 1) / (6 N))``."""
    return nemenyi_q(k, alpha) * float(np.sqrt(k * (k + 1) / (6.0 * n_tables)))


def cliques(mean_ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal groups of methods whose mean ranks lie within ``cd`` of each other (the bars of a CD diagram),
    in rank order; a method alone is not a group."""
    r = mean_ranks.sort_values()
    names, vals = list(r.index), r.to_numpy()
    groups = []
    for i in range(len(vals)):
        j = i
        while j + 1 < len(vals) and vals[j + 1] - vals[i] <= cd:
            j += 1
        if j > i and not any(g[0] <= i and j <= g[1] for g in groups):
            groups.append((i, j))
    return [names[a:b + 1] for a, b in groups]


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(p.shape, np.nan)
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def wilcoxon_holm(scores: pd.DataFrame, references) -> pd.DataFrame:
    """Every method against every reference over the tables: mean and median AUC difference, the two-sided
    Wilcoxon signed-rank p-value (zero differences dropped, as Wilcoxon's own rule) and Holm's adjusted p over
    all comparisons made."""
    rows = []
    references = list(references)
    for i, ref in enumerate(references):
        for m in scores.columns:
            if m == ref or m in references[: i + 1]:  # each pair of references once
                continue
            d = (scores[m] - scores[ref]).to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            p = float(stats.wilcoxon(d).pvalue) if np.count_nonzero(d) >= 2 else float("nan")
            rows.append({"method": m, "reference": ref, "n_tables": len(d), "mean_difference": float(d.mean()),
                         "median_difference": float(np.median(d)), "p": p})
    out = pd.DataFrame(rows, columns=["method", "reference", "n_tables", "mean_difference", "median_difference",
                                      "p"])
    out["p_holm"] = holm(out["p"]) if len(out) else []
    return out


def wins_ties_losses(scores: pd.DataFrame, reference: str, margin: float = 0.02) -> pd.DataFrame:
    """Per method against ``reference``: tables won (higher by more than ``margin``), tied (within it) and lost."""
    rows = []
    for m in scores.columns:
        if m == reference:
            continue
        d = (scores[m] - scores[reference]).to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        rows.append({"method": m, "reference": reference, "wins": int((d > margin).sum()),
                     "ties": int((np.abs(d) <= margin).sum()), "losses": int((d < -margin).sum())})
    return pd.DataFrame(rows, columns=["method", "reference", "wins", "ties", "losses"])
