"""How often each feature was selected across cross-validation folds."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted

from .mrmr import MRMRSelector

__all__ = ["selection_frequency"]

# --------------------------------------------------------------------------------------------------
# Stability across folds
# --------------------------------------------------------------------------------------------------


def _selection_of(item) -> tuple[list[str], bool]:
    """Selected names of one fold and whether their order means anything."""
    if hasattr(item, "steps"):  # a Pipeline: its last feature selector decides the output columns
        selectors = [step for _, step in item.steps if isinstance(step, SelectorMixin)]
        if not selectors:
            raise ValueError("selection_frequency: the pipeline has no feature-selection step")
        item = selectors[-1]
    if isinstance(item, MRMRSelector):
        check_is_fitted(item)
        return list(item.selected_features_), True
    if isinstance(item, SelectorMixin):
        return [str(n) for n in item.get_feature_names_out()], False
    if isinstance(item, str) or not isinstance(item, Iterable):
        raise TypeError(
            f"selection_frequency: expected fitted selectors, pipelines or lists of feature names, got {type(item).__name__}"
        )
    return [str(n) for n in item], True


def selection_frequency(selections, *, feature_names=None) -> pd.DataFrame:
    """How often each feature was selected over cross-validation folds.

    Parameters
    ----------
    selections : iterable
        One entry per fold: a fitted :class:`MRMRSelector` (its mRMR order is used), another fitted
        scikit-learn selector, a fitted Pipeline (its last selector step), or a list of feature names in
        selection order.
    feature_names : iterable of str, default=None
        All candidate features; those never selected are reported with count 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature, sorted by decreasing frequency then mean rank, with columns ``n_selected``
        (folds that selected the feature), ``frequency`` (``n_selected / n_folds``) and ``mean_rank``
        (mean 1-based position in the folds that selected it, over the folds whose selection is ordered;
        NaN when none is).

    Examples
    --------
    >>> from radiomix.select import selection_frequency
    >>> selection_frequency([["a", "b"], ["a", "c"], ["b", "a"]])
       n_selected  frequency  mean_rank
    a           3   1.000000   1.333333
    b           2   0.666667   1.500000
    c           1   0.333333   2.000000
    """
    folds = [_selection_of(item) for item in selections]
    if not folds:
        raise ValueError("selection_frequency: no folds given")
    names: dict[str, None] = dict.fromkeys(str(n) for n in feature_names) if feature_names is not None else {}
    counts: dict[str, int] = {}
    ranks: dict[str, list[int]] = {}
    for selected, ordered in folds:
        for position, name in enumerate(selected, start=1):
            names.setdefault(name, None)
            counts[name] = counts.get(name, 0) + 1
            if ordered:
                ranks.setdefault(name, []).append(position)
    index = list(names)
    n_selected = np.array([counts.get(n, 0) for n in index], dtype=np.int64)
    mean_rank = np.array([np.mean(ranks[n]) if n in ranks else np.nan for n in index])
    table = pd.DataFrame(
        {"n_selected": n_selected, "frequency": n_selected / len(folds), "mean_rank": mean_rank},
        index=pd.Index(index, name="feature"),
    )
    first_seen = np.arange(len(index))
    order = np.lexsort((first_seen, np.nan_to_num(mean_rank, nan=np.inf), -n_selected))
    result = table.iloc[order]
    result.index.name = None
    return result
