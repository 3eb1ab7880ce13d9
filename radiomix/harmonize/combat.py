"""The ComBat transformer: fitted on training rows only, applied to new rows with their own covariates."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ..patterns import compile_user_pattern
from ._eb import adjust, batch_stats, eb_one_batch, pooled_model, site_estimates, unadjustable
from ._names import non_image_columns
from ._support import (
    ComBatWarning,
    as_list,
    is_categorical,
    is_number_dtype,
    numeric_matrix,
    same_labels,
    sorted_levels,
)

__all__ = ["ComBat", "ComBatWarning", "FEW_ROWS"]

#: An unseen site estimated at transform time from fewer rows than this gets a warning.
FEW_ROWS = 10


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonization of feature columns across sites, fitted on training rows only.

    Parameters
    ----------
    batch : str or int, default="site"
        Column holding the site/scanner/batch label. For a NumPy array, the column index.
    covariates : list of str, optional
        Columns whose effects are preserved (e.g. age, sex, tumour stage). Never the outcome being
        predicted: :meth:`transform` needs the covariates of the rows it harmonizes, so a label
        covariate would need the test label (see ``target``).
    categorical : list of str, optional
        Covariates to treat as categorical (one-hot, first level dropped). Non-numeric and boolean
        covariates are categorical anyway; the remaining numeric covariates enter linearly.
    features : list of str, str or None, default=None
        Columns to harmonize. None (the scikit-learn convention: the estimator works on what it is given):
        every numeric column other than ``batch``, ``covariates`` and ``target``; non-numeric columns are
        passed through unchanged, and a warning names them. Numeric columns that do not look like image
        features (``age``, ``outcome_days``...) are harmonized too, and a warning names them
        (``non_image_columns_``). ``"radiomic"``: the radiomic columns recorded by
        :func:`radiomix.tables.merge` / :func:`radiomix.extract`, or else those with pyradiomics names
        (:func:`radiomix.tables.column_groups`) -- an explicit choice, refused when other numeric columns
        would stay unharmonized beside them unless they are listed in ``exclude``. A list, or a regular
        expression (``re.search`` on the column name), names the columns.
    exclude : list of str or str, optional
        Columns never harmonized (a list or a regular expression), e.g. shape features, which measure
        anatomy and carry case-mix signal that ComBat without an outcome covariate would remove. They are
        returned unchanged and listed in ``excluded_features_``.
    parametric : bool, default=True
        Parametric (normal / inverse-gamma) or non-parametric empirical-Bayes priors.
    eb : bool, default=True
        Shrink the per-site estimates with empirical Bayes; False uses the per-site means and variances.
    mean_only : bool, default=False
        Adjust the site means only (no scaling). Switched on automatically, with a warning, when a site
        has a single training row, as sva does.
    ref_batch : label, optional
        Reference site: its rows are returned unchanged and the other sites are mapped onto it.
    unseen : {"error", "estimate"}, default="error"
        What :meth:`transform` does with a site absent from training. "error" raises, naming the site.
        "estimate" keeps the fitted pooled model (coefficients, pooled variance, covariate effects) and
        estimates that site's shift and scale from its own rows in the frame being transformed, with the
        same empirical Bayes as ``fit``: the prior hyperparameters come from that site's own features,
        exactly as ``fit`` derives each training site's prior from its own features (ComBat's priors are
        per site, describing how *that* scanner shifts the features, so the training sites' priors would
        describe other scanners). Transform all rows of a new site in one call; with fewer than
        :data:`FEW_ROWS` rows a warning is issued, and a single row gets a mean-only adjustment. A site with
        fewer than ``min_unseen_rows`` rows is refused: its shift and scale would be estimated from too few
        patients (the same patient alone, with 4 or with 19 site-mates gets very different values).
    min_unseen_rows : int, default=10
        Fewest rows of an unseen site that ``unseen="estimate"`` accepts in one ``transform`` call.
    target : str or list of str, optional
        Name(s) of the outcome column(s) (a label; a survival time and event), if the frame holds them: they
        are never harmonized, and naming one as a covariate raises.
    drop_batch : bool, default=False
        Drop the batch column from the output. By default every input column is kept (covariates and
        other columns unchanged) so that ComBat drops into a Pipeline before imputation and selection.

    Attributes
    ----------
    batches_ : ndarray
        Training sites (sorted); rows of the per-site arrays below follow this order.
    batch_counts_ : ndarray of int
        Training rows per site.
    features_ : list
        Harmonized columns.
    excluded_features_ : list
        Columns kept out by ``exclude``.
    non_image_columns_ : list
        With ``features=None`` on a DataFrame: the harmonized columns that do not look like image features
        (clinical, time or outcome-like names; columns the recorded column groups put outside the radiomic
        block; other names beside recognised image features; rule in :mod:`radiomix.harmonize._names`). A
        :class:`ComBatWarning` names them once per fit; they are harmonized all the same. Empty when
        ``features`` is given or the input is an array.
    passthrough_features_ : list
        Features returned unchanged: constant within a training site (as in sva), without observed values
        in a site, with zero pooled variance, or (without ``mean_only``) with a single observed value in
        some site. A :class:`ComBatWarning` names them.
    covariates_, categorical_, continuous_ : list
        Covariates as used; ``categories_`` maps each categorical covariate to its levels (the first is
        the reference level).
    grand_mean_, var_pooled_ : ndarray of shape (n_features,)
        Pooled (or reference-site) mean and residual variance per feature (NaN for pass-through features).
    covariate_coef_ : ndarray of shape (n_covariate_columns, n_features)
        Covariate effects; ``covariate_columns_`` names the design columns.
    gamma_hat_, delta_hat_, gamma_star_, delta_star_ : ndarray of shape (n_batches, n_features)
        Per-site shift and scale, before and after empirical Bayes (standardised units; 0 and 1 for
        pass-through features and the reference site).
    priors_ : dict of ndarray
        Per-site hyperparameters ``gamma_bar``, ``t2``, ``a_prior``, ``b_prior`` (arrays in ``batches_``
        order; NaN where unused).
    mean_only_ : bool
        Whether the mean-only model was used.
    n_features_in_, feature_names_in_
        As in scikit-learn (all input columns, not only the harmonized ones).

    Notes
    -----
    * Input: a DataFrame (recommended), returned as a DataFrame with the same index, columns and
      ``attrs``, the feature columns harmonized (float). A NumPy array is accepted with ``batch`` (and
      ``covariates``) given as column indices and returns an array. ``set_output(transform="pandas")``
      works for both.
    * Missing feature values are allowed: every estimate uses the observed values of each feature (as
      sva does) and NaN cells stay NaN for a later imputer. The output has no NaN that the input lacked.
      With missing values, sva's pooled variance divides by n-1 (for every feature); radiomix keeps the
      mean of squared residuals, so outputs agree with sva exactly only on complete data.
    * Missing batch or covariate values raise; so do unknown categorical levels at transform time.
    * The non-parametric prior uses all features of a site (O(features^2) memory, processed in blocks).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.harmonize import ComBat
    >>> rng = np.random.default_rng(0)
    >>> site = np.repeat(["A", "B", "C"], 20)
    >>> X = pd.DataFrame(rng.normal(size=(60, 5)), columns=[f"f{i}" for i in range(5)])
    >>> X.iloc[20:40] = X.iloc[20:40] * 2 + 3                 # site B: shifted and scaled
    >>> X["site"], X["age"] = site, rng.uniform(40, 80, 60)
    >>> combat = ComBat(batch="site", covariates=["age"], features=r"^f")
    >>> Xh = combat.fit_transform(X)
    >>> bool(Xh.groupby("site")["f0"].mean().std() < X.groupby("site")["f0"].mean().std())
    True
    """

    # Types and ranges only: whether the named columns exist (and do not overlap) depends on the table, and
    # is checked in ``fit`` by ``_columns``.
    _parameter_constraints: dict = {
        "batch": [str, Integral],
        "covariates": ["array-like", str, Integral, None],
        "categorical": ["array-like", str, Integral, None],
        "features": ["array-like", str, Integral, None],
        "exclude": ["array-like", str, Integral, None],
        "parametric": ["boolean"],
        "eb": ["boolean"],
        "mean_only": ["boolean"],
        "ref_batch": [str, Real, "boolean", None],
        "unseen": [StrOptions({"error", "estimate"})],
        "min_unseen_rows": [Interval(Integral, 1, None, closed="left")],
        "target": ["array-like", str, None],
        "drop_batch": ["boolean"],
    }

    def __init__(self, batch="site", covariates=None, categorical=None, features=None, parametric=True, eb=True,
                 mean_only=False, ref_batch=None, unseen="error", target=None, drop_batch=False, exclude=None,
                 min_unseen_rows=10):
        self.batch = batch
        self.covariates = covariates
        self.categorical = categorical
        self.features = features
        self.exclude = exclude
        self.min_unseen_rows = min_unseen_rows
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.ref_batch = ref_batch
        self.unseen = unseen
        self.target = target
        self.drop_batch = drop_batch

    # ---- input handling ------------------------------------------------------------------------------

    def _frame(self, X, reset: bool):
        """(DataFrame view of X, whether X was an array); checks names/width against fit when not reset."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.columns.has_duplicates:
                dup = list(X.columns[X.columns.duplicated()].unique()[:5])
                raise ValueError(f"duplicate column names: {dup}")
            if len(X) == 0:
                raise ValueError("ComBat needs at least one row (got 0 samples)")
            return X, False
        arr = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(arr), True

    def _columns(self, X: pd.DataFrame, array_input: bool):
        """Resolve batch, covariates, categorical covariates and features against the columns of X."""
        cols = list(X.columns)
        colset = set(cols)
        batch = self.batch
        if batch not in colset:
            if array_input:
                raise ValueError(f"with array input, batch must be a column index in 0..{len(cols) - 1}, got {batch!r}")
            raise ValueError(f"batch column {batch!r} is not in the table; its columns start {cols[:8]}")
        covs = as_list(self.covariates, "covariates")
        cats = as_list(self.categorical, "categorical")
        for c in covs:
            if c not in cols:
                raise ValueError(f"covariate column {c!r} is not in the table")
            if c == batch:
                raise ValueError(f"column {c!r} is the batch column; it cannot also be a covariate")
        if len(set(covs)) < len(covs):
            raise ValueError(f"covariates are listed twice: {covs}")
        for c in cats:
            if c not in covs:
                raise ValueError(f"categorical column {c!r} is not one of the covariates {covs}")
        targets = [] if self.target is None else [self.target] if isinstance(self.target, str) else list(self.target)
        for target in targets:
            if target in covs:
                raise ValueError(
                    f"the outcome {target!r} is listed as a covariate: the label must never be a covariate in a "
                    "predictive pipeline (transform would need the outcome of the rows being predicted)")
        excluded = {batch, *covs, *targets}
        user_excluded = self._excluded_columns(cols, colset)
        excluded |= set(user_excluded)
        spec = self.features
        if spec is None:
            if array_input:
                # An array has no dtypes per column to go by: every other column is a feature.
                feats = [c for c in cols if c not in excluded]
            else:
                feats = [c for c, t in X.dtypes.items() if c not in excluded and is_number_dtype(t)]
                other = [c for c in cols if c not in excluded and c not in set(feats)]
                if other:
                    warnings.warn(f"ComBat: {len(other)} non-numeric column(s) are passed through unharmonized: "
                                  f"{other[:10]}{' ...' if len(other) > 10 else ''}", ComBatWarning, stacklevel=4)
        elif isinstance(spec, str) and spec == "radiomic" and spec not in colset:
            feats = self._radiomic_columns(X, excluded)
        elif isinstance(spec, str) and spec not in colset:
            pattern = compile_user_pattern(spec, "ComBat features")
            feats = [c for c in cols if c not in excluded and pattern.search(str(c))]
            if not feats:
                raise ValueError(f"no column matches the features pattern {spec!r}")
        else:
            feats = as_list(spec, "features")
            for c in feats:
                if c not in colset:
                    raise ValueError(f"feature column {c!r} is not in the table")
                if c in excluded:
                    role = "batch" if c == batch else "target" if c in targets else "covariate"
                    raise ValueError(f"column {c!r} is the {role} column; it cannot also be harmonized")
            if len(set(feats)) < len(feats):
                raise ValueError("features are listed twice")
        if not feats:
            raise ValueError(f"no feature columns to harmonize: the table has {len(cols)} feature(s) (columns), "
                             "none of them radiomic or numeric other than the batch, covariate and target columns")
        return batch, covs, cats, feats

    def _excluded_columns(self, cols: list, colset: set) -> list:
        spec = self.exclude
        if spec is None:
            return []
        if isinstance(spec, str) and spec not in colset:
            pattern = compile_user_pattern(spec, "ComBat exclude")
            return [c for c in cols if pattern.search(str(c))]
        out = as_list(spec, "exclude")
        missing = [c for c in out if c not in colset]
        if missing:
            raise ValueError(f"exclude names columns that are not in the table: {missing[:10]}")
        return out

    def _radiomic_columns(self, X: pd.DataFrame, excluded: set) -> list:
        """``features="radiomic"``: the recorded (or pyradiomics-named) radiomic block, refused when other
        numeric columns would be left unharmonized beside it."""
        from ..tables import column_groups

        groups = column_groups(X)
        feats = [c for c in groups["radiomic"] if c not in excluded]
        if not feats:
            raise ValueError("features='radiomic': the table has no recorded radiomic block (radiomix.merge / "
                             "radiomix.extract) and no column with a pyradiomics name; name the columns to "
                             "harmonize, or use features=None for every numeric column")
        assigned = set(feats) | set(groups["clinical"]) | set(groups["genetic"]) | excluded
        loose = [c for c, t in X.dtypes.items() if c not in assigned and is_number_dtype(t)]
        if loose:
            raise ValueError(
                f"features='radiomic' would harmonize {len(feats)} radiomic column(s) and leave {len(loose)} "
                f"numeric column(s) that fit no block raw beside them: {loose[:10]}{' ...' if len(loose) > 10 else ''}."
                " A partly harmonized table reveals the site; harmonize every feature (features=None), or list "
                "those columns in exclude")
        return feats

    def _batch_labels(self, X: pd.DataFrame) -> np.ndarray:
        b = X[self.batch]
        if b.isna().any():
            rows = list(X.index[b.isna().to_numpy()][:5])
            raise ValueError(f"batch column {self.batch!r} has missing values (rows {rows})")
        return b.to_numpy(dtype=object)

    def _covariate_design(self, X: pd.DataFrame) -> np.ndarray:
        """Covariate part of the design matrix for the rows of X (fitted encoding)."""
        blocks = []
        for c in self.covariates_:
            s = X[c]
            if s.isna().any():
                rows = list(X.index[s.isna().to_numpy()][:5])
                raise ValueError(f"covariate column {c!r} has missing values (rows {rows}); impute or drop them "
                                 "before ComBat")
            if c in self.categories_:
                levels = self.categories_[c]
                vals = s.to_numpy(dtype=object)
                known = pd.Index(levels).get_indexer(vals)
                if (known < 0).any():
                    new = sorted_levels(vals[known < 0])[:5]
                    raise ValueError(f"covariate column {c!r} has levels not seen in fit: {new} "
                                     f"(fitted levels {levels})")
                blocks.append((known[:, None] == np.arange(1, len(levels))[None, :]).astype(float))
            else:
                blocks.append(numeric_matrix(X, [c], "covariate"))
        if not blocks:
            return np.zeros((len(X), 0))
        return np.hstack(blocks)

    # ---- fit -----------------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the pooled model and the per-site location/scale parameters from the rows of X.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_columns)
            Training rows with the batch, covariate and feature columns.
        y : array-like, optional
            Ignored except for a leakage guard: if a covariate equals ``y`` (or is a one-to-one
            relabelling of a discrete ``y``), fitting raises.

        Returns
        -------
        self
        """
        X, array_input = self._frame(X, reset=True)
        batch, covs, cats, feats = self._columns(X, array_input)
        self._note_non_image(X, feats, array_input)
        if y is not None:
            for c in covs:
                if same_labels(X[c], y):
                    raise ValueError(
                        f"covariate {c!r} equals the target y: the label must never be a covariate in a "
                        "predictive pipeline (transform would need the outcome of the rows being predicted)")

        if len(X) < 2:
            raise ValueError(f"ComBat needs at least 2 samples, got n_samples = {len(X)}")
        codes, ref = self._fit_batches(X, batch)
        K = len(self.batches_)
        C = self._fit_covariates(X, covs, cats)

        batch_design = (codes[:, None] == np.arange(K)[None, :]).astype(float)
        if ref is not None:
            batch_design[:, ref] = 1.0
        D = np.hstack([batch_design, C])
        self._check_confounding(D, batch_design, C, covs)
        self._fit_mean_only(batch)

        Y = numeric_matrix(X, feats, "feature")
        self.features_ = feats
        self.excluded_features_ = self._excluded_columns(list(X.columns), set(X.columns))
        M = ~np.isnan(Y)
        idx = [np.flatnonzero(codes == k) for k in range(K)]
        complete = bool(M.all())

        # Features ComBat cannot adjust are passed through unchanged and kept out of the priors.
        skip = unadjustable(Y, M, idx, complete, self.mean_only_)
        A, B, grand, mod, var_pooled, YA, MA = pooled_model(D, C, Y, M, skip, idx, self.batch_counts_, ref, complete)

        S = (YA - grand - mod) / np.sqrt(var_pooled)
        stats = [batch_stats(S[idx[k]], None if complete else MA[idx[k]]) for k in range(K)]
        gamma_hat, delta_hat = site_estimates(stats, ref, self.mean_only_)
        gamma_star, delta_star, priors = self._shrink(stats, gamma_hat, delta_hat, ref, A.size, batch)
        bad = ~(np.isfinite(gamma_star).all(axis=0) & np.isfinite(delta_star).all(axis=0) & (delta_star > 0).all(axis=0))
        if bad.any():
            skip[A[bad]] = True
            keep = ~bad
            A, B, grand, var_pooled = A[keep], B[:, keep], grand[keep], var_pooled[keep]
            gamma_hat, delta_hat = gamma_hat[:, keep], delta_hat[:, keep]
            gamma_star, delta_star = gamma_star[:, keep], delta_star[:, keep]

        self._store_fit(batch, skip, A, grand, var_pooled, B[K:], (gamma_hat, delta_hat, gamma_star, delta_star),
                        priors, ref)
        return self

    def _note_non_image(self, X: pd.DataFrame, feats: list, array_input: bool) -> None:
        """Set ``non_image_columns_``; with ``features=None``, name once the harmonized columns that do not
        look like image features (the rule of :mod:`radiomix.harmonize._names`)."""
        self.non_image_columns_ = []
        if self.features is not None or array_input:
            return  # the caller chose the columns (or an array has no names to go by)
        found = non_image_columns(X, feats)
        self.non_image_columns_ = [c for c in feats if any(c in cols for cols in found.values())]
        if not found:
            return
        parts = ", ".join(f"{cols[:10]}{' ...' if len(cols) > 10 else ''} ({len(cols)}: {why})"
                          for why, cols in found.items())
        warnings.warn(f"ComBat harmonizes {len(self.non_image_columns_)} column(s) that do not look like image "
                      f"features: {parts}. features=None harmonizes every numeric column other than batch, "
                      "covariates and target; pass features= (a list or a regex) or exclude= to choose, and "
                      "target= for outcome columns", ComBatWarning, stacklevel=4)

    def _fit_batches(self, X: pd.DataFrame, batch) -> tuple[np.ndarray, int | None]:
        """Set ``batches_``, ``batch_counts_`` and ``ref_batch_``; return each row's batch code and the reference's."""
        labels = self._batch_labels(X)
        self.batches_ = np.asarray(sorted_levels(labels), dtype=object)
        K = len(self.batches_)
        if K < 2:
            raise ValueError(f"ComBat needs at least two batches; column {batch!r} holds only {list(self.batches_)}")
        codes = pd.Index(self.batches_).get_indexer(labels)
        self.batch_counts_ = np.bincount(codes, minlength=K)
        if self.ref_batch is not None:
            hit = [k for k, b in enumerate(self.batches_) if b == self.ref_batch]
            if not hit:
                raise ValueError(f"ref_batch {self.ref_batch!r} is not a level of batch column {batch!r} "
                                 f"(levels {list(self.batches_)})")
            ref = hit[0]
        else:
            ref = None
        self.ref_batch_ = None if ref is None else self.batches_[ref]
        return codes, ref

    def _fit_covariates(self, X: pd.DataFrame, covs: list, cats: list) -> np.ndarray:
        """Fit the covariate encoding (``covariates_``, ``categories_``...); return the covariate design."""
        self.covariates_ = covs
        self.categories_ = {}
        for c in covs:
            if c in cats or is_categorical(X[c]):
                self.categories_[c] = sorted_levels(X[c])
        self.categorical_ = [c for c in covs if c in self.categories_]
        self.continuous_ = [c for c in covs if c not in self.categories_]
        C = self._covariate_design(X)
        self.covariate_columns_ = []
        for c in covs:
            if c in self.categories_:
                self.covariate_columns_ += [f"{c}={lv}" for lv in self.categories_[c][1:]]
            else:
                self.covariate_columns_.append(str(c))
        return C

    def _fit_mean_only(self, batch) -> None:
        """Set ``mean_only_``, switching to mean-only (with a warning) when a site has a single training row."""
        self.mean_only_ = bool(self.mean_only)
        K = len(self.batches_)
        singles = [self.batches_[k] for k in range(K) if self.batch_counts_[k] == 1]
        if singles and not self.mean_only:
            self.mean_only_ = True
            warnings.warn(f"batch {batch!r}: site(s) {singles[:5]} have a single training row, so their scale "
                          "cannot be estimated; using mean-only ComBat (as sva does)", ComBatWarning, stacklevel=3)

    def _shrink(self, stats: list, gamma_hat, delta_hat, ref, n_adjustable: int, batch):
        """Empirical-Bayes estimates per site: ``(gamma_star, delta_star, priors)`` (a dict per site)."""
        K = len(stats)
        eb = bool(self.eb)
        if eb and n_adjustable < 2:
            eb = False
            warnings.warn(f"only {n_adjustable} adjustable feature(s): empirical Bayes needs at least two, so the "
                          "per-site estimates are used without shrinkage", ComBatWarning, stacklevel=3)
        gamma_star, delta_star = gamma_hat.copy(), delta_hat.copy()
        priors = []
        for k in range(K):
            n, xbar, ss = stats[k]
            if k == ref:
                gs, ds, pr = gamma_hat[k], delta_hat[k], {}
            else:
                gs, ds, pr = eb_one_batch(n, xbar, ss, gamma_hat[k], delta_hat[k], parametric=self.parametric,
                                           eb=eb, mean_only=self.mean_only_)
                if gs is None:
                    warnings.warn(f"batch {batch!r}, site {self.batches_[k]!r}: the inverse-gamma prior is "
                                  "degenerate (all feature variances equal); no shrinkage for this site",
                                  ComBatWarning, stacklevel=3)
                    gs, ds = gamma_hat[k], delta_hat[k]
            gamma_star[k], delta_star[k] = gs, ds
            priors.append(pr)
        if ref is not None:
            gamma_star[ref], delta_star[ref] = 0.0, 1.0
        return gamma_star, delta_star, priors

    def _store_fit(self, batch, skip, A, grand, var_pooled, coef, site_params: tuple, priors: list, ref) -> None:
        """Set the fitted attributes, expanding the adjusted features' estimates to all features."""
        gamma_hat, delta_hat, gamma_star, delta_star = site_params
        feats = self.features_
        F = len(feats)
        self._adjusted = A
        self.passthrough_features_ = [feats[j] for j in np.flatnonzero(skip)]
        if self.passthrough_features_:
            warnings.warn(f"batch {batch!r}: {len(self.passthrough_features_)} feature(s) cannot be harmonized "
                          f"(constant within a site, no or too few observed values in a site, or zero pooled "
                          f"variance) and are passed through unchanged: {self.passthrough_features_[:8]}",
                          ComBatWarning, stacklevel=3)

        def full(a, fill):
            out = np.full(a.shape[:-1] + (F,), fill, dtype=float)
            out[..., A] = a
            return out

        self.grand_mean_ = full(grand, np.nan)
        self.var_pooled_ = full(var_pooled, np.nan)
        self.covariate_coef_ = full(coef, np.nan)
        self.gamma_hat_ = full(gamma_hat, 0.0)
        self.delta_hat_ = full(delta_hat, 1.0)
        self.gamma_star_ = full(gamma_star, 0.0)
        self.delta_star_ = full(delta_star, 1.0)
        # A dict of arrays (one value per batch, in batches_ order), not a DataFrame, so that skops can
        # persist a fitted pipeline.
        self.priors_ = {k: np.array([float(pr.get(k, np.nan)) for pr in priors]) for k in ("gamma_bar", "t2", "a_prior", "b_prior")}
        self._ref = ref

    def _check_confounding(self, D, batch_design, C, covs):
        if np.linalg.matrix_rank(D) == D.shape[1]:
            return
        if C.shape[1] and np.linalg.matrix_rank(C) < C.shape[1]:
            raise ValueError(f"the covariates {covs} are confounded with each other (collinear design); "
                             "remove one or more of them")
        col = 0
        for c in covs:
            width = len(self.categories_[c]) - 1 if c in self.categories_ else 1
            sub = np.hstack([batch_design, C[:, col:col + width]])
            if np.linalg.matrix_rank(sub) < sub.shape[1]:
                raise ValueError(f"covariate {c!r} is confounded with batch {self.batch!r} (it is constant within "
                                 "sites or determined by the site); remove it")
            col += width
        raise ValueError(f"the covariates {covs} are jointly confounded with batch {self.batch!r}; remove some")

    # ---- transform -----------------------------------------------------------------------------------

    def transform(self, X):
        """Harmonize the feature columns of X with the fitted estimates.

        Each row uses its own site's fitted shift/scale and its own covariate values. Rows of the
        reference site are returned unchanged. Sites absent from training raise, or are estimated from
        their rows in X when ``unseen="estimate"``.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_columns)
            Same columns as in ``fit``.

        Returns
        -------
        DataFrame (for DataFrame input) or ndarray with the harmonized feature columns.
        """
        check_is_fitted(self, "gamma_star_")
        X, array_input = self._frame(X, reset=False)
        labels = self._batch_labels(X)
        codes = pd.Index(self.batches_).get_indexer(labels)
        new_sites = sorted_levels(labels[codes < 0])
        if new_sites and self.unseen == "error":
            raise ValueError(f"batch column {self.batch!r}: site(s) {new_sites[:10]} were not seen in fit "
                             f"(fitted sites {list(self.batches_)}); pass unseen='estimate' to estimate them "
                             "from their own rows")
        for site in new_sites:
            n_site = int(np.sum((labels == site) & (codes < 0)))
            if n_site < self.min_unseen_rows:
                raise ValueError(
                    f"batch column {self.batch!r}: unseen site {site!r} has {n_site} row(s) here; estimating its "
                    f"ComBat shift and scale needs at least {self.min_unseen_rows} rows of that site in one call "
                    "(min_unseen_rows). Transform all of the site's rows together, or apply a model trained "
                    "without harmonization")
        C = self._covariate_design(X)
        Y = numeric_matrix(X, self.features_, "feature")
        A = self._adjusted
        full = A.size == Y.shape[1]
        YA = Y if full else Y[:, A]
        out = np.array(YA)
        if A.size:
            grand, vp = self.grand_mean_[A], self.var_pooled_[A]
            # Covariate effect of each row from its own covariates (a scalar 0 when there are none).
            mod = C @ self.covariate_coef_[:, A] if C.shape[1] else np.zeros((1, A.size))
            gamma, delta = self.gamma_star_[:, A], self.delta_star_[:, A]
            for k in np.unique(codes[codes >= 0]):
                if k == self._ref:
                    continue  # the reference site is returned as it came
                rows = np.flatnonzero(codes == k)
                out[rows] = adjust(YA[rows], mod[rows] if len(mod) > 1 else mod, grand, vp, gamma[k], delta[k])
            for site in new_sites:
                rows = np.flatnonzero(pd.Series(labels).eq(site).to_numpy() & (codes < 0))
                out[rows] = self._estimate_unseen(site, YA[rows], mod[rows] if len(mod) > 1 else mod, grand, vp)
        if full:
            H = out
        else:
            H = Y.copy()
            H[:, A] = out
        # NaN propagates through the arithmetic, so equal counts mean no observed value became NaN.
        if np.isnan(H).sum() != np.isnan(Y).sum():  # pragma: no cover - guarded by the pass-through rules
            raise RuntimeError("ComBat produced NaN for an observed value; please report this")
        return self._assemble(X, H, array_input)

    def _estimate_unseen(self, site, Y, mod, grand, vp):
        """Adjust the rows of one unseen site, estimating its shift/scale against the fitted pooled model."""
        n_rows = len(Y)
        if n_rows < FEW_ROWS:
            warnings.warn(f"batch {self.batch!r}: unseen site {site!r} is estimated from {n_rows} row(s) "
                          f"(< {FEW_ROWS}); its ComBat estimates are noisy", ComBatWarning, stacklevel=4)
        S = (Y - grand - mod) / np.sqrt(vp)
        M = ~np.isnan(S)
        n, xbar, ss = batch_stats(S, M)
        g_hat = xbar - (self.gamma_hat_[self._ref, self._adjusted] if self._ref is not None else 0.0)
        mean_only = self.mean_only_ or n_rows == 1
        with np.errstate(invalid="ignore", divide="ignore"):
            d_hat = np.ones_like(xbar) if mean_only else ss / (n - 1)
        # Features with no observed value here stay as they are (all NaN anyway); features whose spread
        # cannot be estimated at this site (one value, or constant) get an unshrunk shift only.
        usable = n > 0
        shift_only = usable & ~(np.isfinite(d_hat) & (d_hat > 0))
        pool = usable & ~shift_only
        g_star = np.where(usable, g_hat, 0.0)
        d_star = np.where(pool, d_hat, 1.0)
        eb = bool(self.eb) and pool.sum() >= 2
        if pool.any():
            gs, ds, _ = eb_one_batch(n[pool], xbar[pool], ss[pool], g_hat[pool], d_hat[pool],
                                      parametric=self.parametric, eb=eb, mean_only=mean_only)
            if gs is None:
                gs, ds = g_hat[pool], d_hat[pool]
            g_star[pool], d_star[pool] = gs, ds
        ok = np.isfinite(g_star) & np.isfinite(d_star) & (d_star > 0)
        g_star, d_star = np.where(ok, g_star, 0.0), np.where(ok, d_star, 1.0)
        return adjust(Y, mod, grand, vp, g_star, d_star)

    def _assemble(self, X: pd.DataFrame, H: np.ndarray, array_input: bool):
        new = pd.DataFrame(H, index=X.index, columns=pd.Index(self.features_, dtype=X.columns.dtype))
        rest = X.drop(columns=self.features_)
        out = pd.concat([rest, new], axis=1)[[c for c in X.columns if not (self.drop_batch and c == self.batch)]]
        if array_input:
            return out.to_numpy()
        out.attrs = dict(X.attrs)
        return out

    def get_feature_names_out(self, input_features=None):
        """Output column names: the input columns, less the batch column when ``drop_batch``."""
        check_is_fitted(self, "gamma_star_")
        names = _check_feature_names_in(self, input_features)
        if not self.drop_batch:
            return names
        if hasattr(self, "feature_names_in_"):
            drop = str(self.batch)
        else:
            drop = f"x{self.batch}"
        return np.asarray([n for n in names if n != drop], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags
