"""What every outcome type records the same way: the per-fold row of ``folds.csv``, the optimism of the inner
scores, numbers formatted for text."""

from __future__ import annotations

import numpy as np

__all__ = ["fold_record", "optimism", "fmt_number"]


def fold_record(res, metrics: dict, headline: str) -> dict:
    """One row of a run's per-fold table: ``metrics`` of the fold's test rows plus what every task records
    (chosen parameters, inner score and optimism, candidates, seconds, selected features, test site)."""
    f = res.fold
    score = metrics.get(headline, np.nan)
    row = {"repeat": f.repeat, "fold": f.fold, "n_test": len(f.test), **metrics,
           "inner_score": res.inner_score,
           "optimism": res.inner_score - score if np.isfinite(res.inner_score) else np.nan, "inner": res.inner,
           "n_candidates": res.n_candidates, "seconds": round(res.seconds, 3), "params": res.params}
    if res.selected is not None:
        row["selected"] = res.selected
    if f.site is not None:
        row = {"test_site": f.site, **row}
    return row


def optimism(folds, metric: str) -> dict | None:
    """Inner-CV score of each fold's chosen candidate minus its outer-fold ``metric`` (mean, sd, the inner
    mean), or None when nothing was tuned."""
    if not folds["inner_score"].notna().any():
        return None
    opt = folds["optimism"]
    return {"mean": float(opt.mean()), "sd": float(opt.std(ddof=1)) if opt.notna().sum() > 1 else np.nan,
            "inner_score_mean": float(folds["inner_score"].mean()),
            "what": f"inner-CV score of the chosen candidate minus the outer fold's {metric}"}


def fmt_number(v, fmt="{:.3f}") -> str:
    """A number for the text (JSON null and NaN, e.g. a CI without bootstrap, read "n/a")."""
    try:
        return fmt.format(float(v)) if v is not None and np.isfinite(float(v)) else "n/a"
    except (TypeError, ValueError):
        return str(v)
