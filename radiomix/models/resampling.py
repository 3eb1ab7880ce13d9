"""Class balancing that keeps each row's identity.

imbalanced-learn's samplers return a new table indexed 0..m-1, so a step fitted after one cannot tell which
patient a row belongs to: a step that looks rows up by their index labels (the robustness filter's repeats, a
patient-grouped splitter) then reads the wrong patients. :class:`RowIdentitySampler` wraps any imbalanced-learn
sampler and gives every output row back its identity: a real row, or a duplicate of one (random over- and
under-sampling), keeps the index label of the row it copies; a synthetic row (SMOTE, SMOTENC, ADASYN
interpolants, which belong to no patient) gets a negative integer label ``-1, -2, ...``, which
:func:`synthetic_rows` recognises. The wrapped sampler draws exactly what it draws alone (same
``random_state``, same rows, same values), so only the index labels differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from imblearn.base import BaseSampler
from scipy import sparse
from sklearn.base import _fit_context, clone
from sklearn.utils._param_validation import HasMethods

__all__ = ["RowIdentitySampler", "synthetic_rows"]


def synthetic_rows(index) -> np.ndarray:
    """Boolean mask of the rows of ``index`` (a pandas Index or the labels) that a :class:`RowIdentitySampler`
    made up: labels that are negative integers."""
    labels = pd.Index(index)
    if labels.dtype.kind in "iu":
        return np.asarray(labels < 0)
    return np.fromiter(((isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v < 0) for v in labels),
                       dtype=bool, count=len(labels))


def _source_rows(sampler, X, X_res, n_rows: int) -> np.ndarray:
    """Position in ``X`` of every output row of the fitted ``sampler`` (-1: synthetic)."""
    if hasattr(sampler, "sample_indices_"):  # random over/under-sampling: every row is a (copy of a) real row
        return np.asarray(sampler.sample_indices_, dtype=np.intp)
    n_out = len(X_res) if not hasattr(X_res, "shape") else X_res.shape[0]
    # SMOTE, SMOTENC, ADASYN stack the input rows, in order, above the new ones; checked, not assumed.
    if n_out < n_rows or not _same_rows(X, X_res, n_rows):
        raise ValueError(f"RowIdentitySampler: {type(sampler).__name__} returned neither sample_indices_ nor the "
                         f"{n_rows} input rows first, so its rows cannot be traced back to the input; wrap a sampler "
                         "of imbalanced-learn's over_sampling or under_sampling modules")
    return np.concatenate([np.arange(n_rows, dtype=np.intp), np.full(n_out - n_rows, -1, dtype=np.intp)])


def _same_rows(X, X_res, n_rows: int) -> bool:
    """Whether the first ``n_rows`` rows of ``X_res`` hold the values of ``X`` (numeric columns compared as
    floats, NaN equal to NaN; other columns as objects)."""
    if sparse.issparse(X) or sparse.issparse(X_res):
        X, X_res = (m.toarray() if sparse.issparse(m) else m for m in (X, X_res))
    a = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    b = X_res if isinstance(X_res, pd.DataFrame) else pd.DataFrame(np.asarray(X_res))
    b = b.iloc[:n_rows]
    if a.shape != b.shape:
        return False
    for i in range(a.shape[1]):
        u, v = a.iloc[:, i].to_numpy(), b.iloc[:, i].to_numpy()
        if u.dtype.kind in "biuf" and v.dtype.kind in "biuf":
            if not np.array_equal(u.astype(float), v.astype(float), equal_nan=True):
                return False
        elif not all((p == q) or (pd.isna(p) and pd.isna(q)) for p, q in zip(u, v)):
            return False
    return True


class RowIdentitySampler(BaseSampler):
    """An imbalanced-learn sampler whose output rows keep the index labels of the rows they come from.

    Parameters
    ----------
    sampler : imbalanced-learn sampler
        The sampler to apply (``SMOTE``, ``SMOTENC``, ``ADASYN``, ``RandomOverSampler``, ``RandomUnderSampler``...);
        cloned and fitted in :meth:`fit_resample`, so it draws the same rows as it would alone.

    Attributes
    ----------
    sampler_ : the fitted clone of ``sampler``.
    sampling_strategy_ : dict
        The fitted sampler's ``sampling_strategy_`` (how many rows of each class were added or kept).
    sample_indices_ : ndarray of int, shape (n_resampled,)
        Position in the input of the row each output row is or copies; -1 for a synthetic row.
    n_synthetic_ : int
        Number of synthetic rows made.

    Notes
    -----
    With a DataFrame ``X`` the output is a DataFrame (pandas output kept) whose index holds, for real rows and
    copies of real rows, the input's index label (a copy repeats it), and for synthetic rows the negative
    integers ``-1, -2, ...`` (:func:`synthetic_rows`); an input index that already holds negative integers is
    refused, since they would read as synthetic. A pandas Series ``y`` gets the same index. With arrays,
    ``sample_indices_`` carries the same information.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from imblearn.over_sampling import SMOTE
    >>> X = pd.DataFrame({"a": np.arange(10.0)}, index=[f"p{i}" for i in range(10)])
    >>> y = np.array([0] * 7 + [1] * 3)
    >>> Xr, yr = RowIdentitySampler(SMOTE(k_neighbors=2, random_state=0)).fit_resample(X, y)
    >>> Xr.index[:10].tolist() == X.index.tolist(), Xr.index[10:].tolist()
    (True, [-1, -2, -3, -4])
    """

    _sampling_type = "bypass"
    _parameter_constraints: dict = {"sampler": [HasMethods(["fit_resample"])]}

    def __init__(self, sampler=None):
        self.sampler = sampler

    def fit(self, X, y, **params):
        """Fit the wrapped sampler (as :meth:`fit_resample`, whose output is dropped)."""
        self.fit_resample(X, y, **params)
        return self

    # The wrapped sampler validates X, y and its own parameters when it is fitted.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y, **params):
        """Resample ``(X, y)`` with the wrapped sampler; rows keep their index labels (see Notes).

        Returns
        -------
        X_resampled, y_resampled : as the wrapped sampler returns them, re-indexed when they are pandas objects.
        """
        labels = X.index if isinstance(X, pd.DataFrame) else None
        if labels is not None and synthetic_rows(labels).any():
            raise ValueError("RowIdentitySampler: the index of X holds negative integers, which would read as "
                             "synthetic rows; index the rows by non-negative positions or by case ids")
        sampler = clone(self.sampler)
        X_res, y_res = sampler.fit_resample(X, y, **params)
        n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
        source = _source_rows(sampler, X, X_res, n_rows)
        self.sampler_ = sampler
        self.sampling_strategy_ = getattr(sampler, "sampling_strategy_", None)
        self.sample_indices_ = source
        self.n_synthetic_ = int((source < 0).sum())
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(sampler, attr):
                setattr(self, attr, getattr(sampler, attr))
        if labels is not None:
            index = labels.take(source[source >= 0])
            if self.n_synthetic_:  # SMOTE-like samplers put every synthetic row after the real ones
                index = index.append(pd.Index(-np.arange(1, self.n_synthetic_ + 1)))
            if isinstance(X_res, pd.DataFrame):
                X_res = X_res.set_axis(index, axis=0)
            if isinstance(y_res, pd.Series):
                y_res = y_res.set_axis(index)
        return X_res, y_res

    def _fit_resample(self, X, y, **params):  # pragma: no cover - fit_resample is overridden
        raise NotImplementedError

    def __sklearn_tags__(self):
        # The wrapped sampler decides which inputs it takes (missing values, sparse matrices, strings).
        import copy

        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        if self.sampler is not None:
            tags.input_tags = copy.deepcopy(get_tags(self.sampler).input_tags)
        return tags
