"""Iterative imputation by surrogate-split trees (missForest-style rounds)."""


from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _cart
from ._encoding import check_imputer_input, feature_names_out, ncat, output
from .trees import TREE_PARAMETER_CONSTRAINTS, tree_kwargs

__all__ = ["SurrogateTreeImputer", "BlockMissingWarning"]

class BlockMissingWarning(UserWarning):
    """Rows that miss a whole block of columns were imputed at the block level (training mean/mode)."""


class SurrogateTreeImputer(TransformerMixin, BaseEstimator):
    """Iterative imputation by rpart-style surrogate-split trees, for numeric and categorical columns.

    Round 1: every column with missing values gets a tree (regression for numeric, classification for
    categorical columns) grown on the rows where it is observed, from all other columns *as they are*:
    missing predictors are routed by surrogate splits, so no preliminary fill is needed (this round alone
    is what ``rpart`` / ``mice(method="cart")``-style single imputation does). Later rounds re-grow each
    tree on the current completed table (in ``imputation_order``, each column using the others' latest
    values, as missForest does) until the imputed values change by at most ``tol`` or start to change more
    than in the round before (then the previous round is kept), or ``max_iter`` rounds.

    :meth:`transform` replays the fitted rounds on new rows with the stored trees, so
    ``fit_transform(X)`` equals ``fit(X).transform(X)``. Columns complete at fit have no tree; if they are
    missing at transform they get the training mean (numeric) or mode (categorical) after round 1.

    Parameters
    ----------
    max_iter : int, default=5
        Most rounds (1 = surrogate-split imputation only).
    tol : float, default=1e-3
        Stop when the imputed values change by at most this between rounds: root mean square change of the
        numeric imputations in units of each column's standard deviation, and the share of categorical
        imputations that changed.
    imputation_order : {"ascending", "descending", "roman", "arabic", "random"}, default="ascending"
        Column order within a round (fewest missing values first for "ascending").
    categorical_features : "auto", None, or list of str, int or bool, default="auto"
        Categorical columns. "auto": pandas ``category``, text and boolean columns.
    max_depth, min_samples_split, min_samples_leaf, cp, max_surrogates, use_surrogates
        Tree settings (see :class:`SurrogateTreeRegressor`). The defaults (``minbucket=5``,
        ``cp=1e-4``) are those of ``mice.impute.cart``: deeper trees than rpart's for prediction.
    add_indicator : bool, default=False
        Append a 0/1 missingness indicator for each column that had missing values at fit.
    blocks : list of lists of column names (or positions), optional
        Column blocks (e.g. the radiomic features of one extraction). A row missing *every* column of a block
        (an extraction that failed, a modality never acquired) is block-missing there: those cells get the
        column's training mean (numeric) or mode (categorical) and never a tree, and the trees of the block's
        columns are grown and used only for their other, sporadically missing cells. So a handful of patients
        without the radiomic block costs no tree per radiomic column (issue #17). ``block_missing_`` counts the
        rows per block at fit; a warning says so once per fit.
    max_predictors : int, optional
        Grow each column's tree on its ``max_predictors`` most correlated columns only (absolute Pearson
        correlation on the mean-filled training table, as ``mice``'s ``quickpred`` selects predictors), not on
        all of them: on a 1,000-column radiomic table each tree then searches 30 predictors, not 999. None: all.
    random_state : int, RandomState or None, default=None
        Only used by ``imputation_order="random"``.
    verbose : int, default=0

    Attributes
    ----------
    imputation_sequence_ : list of (round, column, radiomix._cart.Tree)
        The trees in the order they impute.
    n_iter_ : int
        Rounds kept (1 when nothing was missing at fit).
    changes_ : list of float
        Change between consecutive rounds (the stopping criterion).
    statistics_ : ndarray
        Training mean (numeric) or mode code (categorical) of each column.
    categorical_, categories_, n_features_in_, feature_names_in_
    indicator_ : sklearn.impute.MissingIndicator or None

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.impute import SurrogateTreeImputer
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"a": rng.normal(size=100), "grade": pd.Categorical(rng.choice(["G1", "G2"], 100))})
    >>> df["b"] = 2 * df["a"] + rng.normal(scale=0.1, size=100)
    >>> df.loc[::9, "b"] = np.nan; df.loc[::11, "grade"] = np.nan
    >>> out = SurrogateTreeImputer().set_output(transform="pandas").fit_transform(df)
    >>> int(out.isna().sum().sum()), out["grade"].dtype.name
    (0, 'category')
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in TREE_PARAMETER_CONSTRAINTS.items() if k != "surrogate_style"},
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="both")],
        "imputation_order": [StrOptions({"ascending", "descending", "roman", "arabic", "random"})],
        "add_indicator": ["boolean"],
        "blocks": ["array-like", None],
        "max_predictors": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, max_iter=5, tol=1e-3, imputation_order="ascending", categorical_features="auto",
                 max_depth=None, min_samples_split=20, min_samples_leaf=5, cp=1e-4, max_surrogates=5,
                 use_surrogates=2, add_indicator=False, blocks=None, max_predictors=None, random_state=None,
                 verbose=0):
        self.blocks = blocks
        self.max_predictors = max_predictors
        self.max_iter = max_iter
        self.tol = tol
        self.imputation_order = imputation_order
        self.categorical_features = categorical_features
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.cp = cp
        self.max_surrogates = max_surrogates
        self.use_surrogates = use_surrogates
        self.add_indicator = add_indicator
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the trees (``y`` is ignored)."""
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit and return the imputed training table (equal to ``fit(X).transform(X)``)."""
        Xf, Xe, index = self._fit(X)
        return output(self, Xf, Xe, index)

    def _order(self, miss_counts, cols):
        if self.imputation_order == "roman":
            return list(cols)
        if self.imputation_order == "arabic":
            return list(cols)[::-1]
        if self.imputation_order == "random":
            cols = np.array(cols)
            return list(check_random_state(self.random_state).permutation(cols))
        order = np.argsort(miss_counts[cols], kind="stable")
        if self.imputation_order == "descending":
            order = np.argsort(-miss_counts[cols], kind="stable")
        return [cols[i] for i in order]

    def _block_index(self) -> list:
        """The blocks as column positions (names not among the input columns are ignored; blocks of fewer
        than two columns are ordinary columns)."""
        if not self.blocks:
            return []
        names = [str(c) for c in getattr(self, "feature_names_in_", [])]
        pos = {c: i for i, c in enumerate(names)}
        out = []
        for block in self.blocks:
            idx = sorted({int(c) if isinstance(c, (int, np.integer)) else pos[str(c)] for c in block
                          if isinstance(c, (int, np.integer)) or str(c) in pos})
            if len(idx) >= 2:
                out.append(np.asarray(idx))
        return out

    def _block_cells(self, mask: np.ndarray) -> np.ndarray:
        """Cells in rows that miss a whole block (False elsewhere)."""
        cells = np.zeros_like(mask)
        for idx in self._blocks:
            rows = mask[:, idx].all(axis=1)
            cells[np.ix_(rows, idx)] = True
        return cells

    def _fit(self, X):
        Xe, index = check_imputer_input(self, X, reset=True)
        n, p = Xe.shape
        self._blocks = self._block_index()
        block_cells = self._block_cells(np.isnan(Xe))
        self.block_missing_ = [int(block_cells[:, idx].all(axis=1).sum()) for idx in self._blocks]
        if any(self.block_missing_):
            labels = [str(v) for v in (index if index is not None else range(n))]
            rows = np.flatnonzero(block_cells.any(axis=1))
            warnings.warn(f"SurrogateTreeImputer: {len(rows)} row(s) miss a whole block of columns "
                          f"({[labels[i] for i in rows[:10]]}{' ...' if len(rows) > 10 else ''}; rows per block "
                          f"{self.block_missing_}): their cells get the training mean/mode, not trees",
                          BlockMissingWarning, stacklevel=4)
        observed = ~np.isnan(Xe)           # the rows each column's tree learns from
        mask = ~observed & ~block_cells      # the cells trees impute
        self.indicator_ = MissingIndicator(error_on_new=False).fit(Xe) if self.add_indicator else None
        self._ncat = ncat(self)
        self.statistics_ = self._statistics(Xe, np.isnan(Xe))
        Xe_in = Xe.copy()  # the indicators describe the input as given
        Xe[block_cells] = self.statistics_[np.nonzero(block_cells)[1]]
        self.predictors_ = self._choose_predictors(Xe, mask)
        self._scale = np.array([np.nanstd(Xe[:, j]) if not self.categorical_[j] else 1.0 for j in range(p)])
        self._scale[~(self._scale > 0)] = 1.0
        kw = tree_kwargs(self)
        cols = [j for j in range(p) if mask[:, j].any()]
        order = self._order(mask.sum(axis=0), cols)
        self.imputation_sequence_ = []
        self.changes_ = []
        Xt = np.ascontiguousarray(Xe.T)
        if not cols:
            self.n_iter_ = 1  # one (empty) round
            return Xe, Xe_in, index
        # Round 1: trees on the incomplete table; surrogates route the missing predictors.
        S = _cart.presort(Xt)
        new = Xt.copy()
        for j in order:
            tree = self._grow(Xt, S, j, observed[:, j], kw)
            self.imputation_sequence_.append((0, j, tree))
            new[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        Xt = new
        rounds = [len(self.imputation_sequence_)]
        prev_change = np.inf
        previous = Xt.copy()
        for r in range(1, self.max_iter):
            S = _cart.presort(Xt)
            for j in order:
                tree = self._grow(Xt, S, j, observed[:, j], kw, surrogates=False)
                self.imputation_sequence_.append((r, j, tree))
                Xt[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
                S[j] = np.argsort(Xt[j], kind="stable")
            change = self._change(previous, Xt, mask)
            self.changes_.append(change)
            if self.verbose:
                print(f"[SurrogateTreeImputer] round {r + 1}: change {change:.3g}")
            if change > prev_change:
                # Getting worse (trees can oscillate): keep the previous round, as missForest does.
                Xt = previous
                del self.imputation_sequence_[rounds[-1]:]
                break
            rounds.append(len(self.imputation_sequence_))
            if change <= self.tol:
                break
            prev_change = change
            previous = Xt.copy()
        self.n_iter_ = len(rounds)
        return np.ascontiguousarray(Xt.T), Xe_in, index

    def _choose_predictors(self, Xe: np.ndarray, mask: np.ndarray):
        """``(p, k)`` positions of each imputed column's predictors (-1: none chosen, all columns used), or None
        when every column is a predictor."""
        k = self.max_predictors
        p = Xe.shape[1]
        if k is None or k >= p - 1:
            return None
        filled = np.where(np.isnan(Xe), self.statistics_[None, :], Xe)
        sd = filled.std(axis=0)
        Z = (filled - filled.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        out = np.full((p, int(k)), -1, dtype=np.int64)
        cols = np.flatnonzero(mask.any(axis=0))
        if cols.size:
            R = np.abs(Z.T @ Z[:, cols])           # (p, imputed columns), one BLAS call
            R[cols, np.arange(cols.size)] = -1.0    # never a column's own predictor
            out[cols] = np.argsort(-R, axis=0, kind="stable")[: int(k)].T
        return out

    def _statistics(self, Xe, mask):
        stats = np.empty(Xe.shape[1])
        for j in range(Xe.shape[1]):
            col = Xe[~mask[:, j], j]
            if self.categorical_[j]:
                stats[j] = np.bincount(col.astype(np.int64), minlength=len(self.categories_[j])).argmax()
            else:
                stats[j] = col.mean()
        return stats

    def _subset(self, j):
        """Positions of column ``j``'s predictors when ``max_predictors`` chose them, else None (all)."""
        P = getattr(self, "predictors_", None)
        return None if P is None or P[j, 0] < 0 else P[j]

    def _grow(self, Xt, S, j, rows_mask, kw, surrogates=True):
        if not surrogates:
            # After round 1 the predictors are complete, at fit and when transform replays the round.
            kw = dict(kw, max_surrogates=0)
        k = len(self.categories_[j]) if self.categorical_[j] else 0
        idx = self._subset(j)
        if idx is not None:  # grown on the chosen predictors only (the tree's features index this subset)
            return _cart.grow_tree(np.ascontiguousarray(Xt[idx]), Xt[j], self._ncat[idx], n_classes=k,
                                   rows=np.flatnonzero(rows_mask), presorted=np.ascontiguousarray(S[idx]), **kw)
        active = np.ones(Xt.shape[0], dtype=bool)
        active[j] = False
        return _cart.grow_tree(Xt, Xt[j], self._ncat, n_classes=k, rows=np.flatnonzero(rows_mask),
                               active=active, presorted=S, **kw)

    def _predict(self, tree, Xt, rows_mask, j=None):
        idx = None if j is None else self._subset(j)
        nodes = tree.apply((Xt if idx is None else Xt[idx])[:, rows_mask])
        return tree.value[nodes]

    def _change(self, old, new, mask):
        num = [j for j in range(mask.shape[1]) if mask[:, j].any() and not self.categorical_[j]]
        cat = [j for j in range(mask.shape[1]) if mask[:, j].any() and self.categorical_[j]]
        out = 0.0
        if num:
            d = np.concatenate([(new[j, mask[:, j]] - old[j, mask[:, j]]) / self._scale[j] for j in num])
            out = max(out, float(np.sqrt(np.mean(d * d))))
        if cat:
            d = np.concatenate([new[j, mask[:, j]] != old[j, mask[:, j]] for j in cat])
            out = max(out, float(np.mean(d)))
        return out

    def transform(self, X):
        """Impute new rows by replaying the fitted rounds."""
        check_is_fitted(self, "imputation_sequence_")
        Xe, index = check_imputer_input(self, X, reset=False)
        block_cells = self._block_cells(np.isnan(Xe)) if getattr(self, "_blocks", None) else \
            np.zeros(Xe.shape, bool)
        mask = np.isnan(Xe) & ~block_cells
        Xe_in = Xe.copy()  # the indicators describe the input as given
        Xe[block_cells] = self.statistics_[np.nonzero(block_cells)[1]]
        Xt = np.ascontiguousarray(Xe.T)
        seq = self.imputation_sequence_
        first = [(j, t) for r, j, t in seq if r == 0]
        new = Xt.copy()
        for j, tree in first:
            if mask[:, j].any():
                new[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        Xt = new
        fitted = {j for j, _ in first}
        for j in range(Xt.shape[0]):
            if j not in fitted and mask[:, j].any():
                Xt[j, mask[:, j]] = self.statistics_[j]
        for r, j, tree in seq:
            if r > 0 and mask[:, j].any():
                Xt[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        return output(self, np.ascontiguousarray(Xt.T), Xe_in, index)

    def get_feature_names_out(self, input_features=None):
        """Input column names, then ``missingindicator_<name>`` columns when ``add_indicator``."""
        return feature_names_out(self, input_features)
