"""Survival models as scikit-learn estimators on an ``(n, 2)`` (time, event) target.

* :class:`CoxPH`: (penalized) Cox proportional hazards, radiomix's own Newton-Raphson on the partial
  likelihood (Efron's or Breslow's ties), elastic-net penalty ``alpha * ((1 - l1_ratio) / 2 ||b||^2 +
  l1_ratio ||b||_1)`` on standardised columns (lifelines, the obvious permissive choice, pins pandas < 3);
* :class:`XGBSurvival`: gradient-boosted trees with XGBoost's ``survival:cox`` (partial likelihood) or
  ``survival:aft`` (accelerated failure time) objective.

``predict(X)`` returns a risk score (higher = shorter survival: the log hazard ratio for Cox models, minus
the predicted log time for AFT); ``predict_survival(X, times)`` the probabilities ``S(t | x)``, for Cox
models from Breslow's baseline hazard on the training patients; ``score(X, y)`` Harrell's C.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..outcomes.survival.metrics import breslow, harrell_c, split_surv, step_at

__all__ = ["CoxPH", "XGBSurvival", "SurvivalMixin", "SurvivalStacking", "RandomSurvivalForest"]


class SurvivalMixin:
    """``score`` (Harrell's C) and survival probabilities from a baseline cumulative hazard."""

    _estimator_type = "survival"

    def score(self, X, y):
        time, event = split_surv(y)
        return harrell_c(time, event, self.predict(X))

    def _set_baseline(self, y, risk):
        time, event = split_surv(y)
        self.baseline_times_, self.baseline_cumhaz_ = breslow(time, event, risk)

    def predict_survival(self, X, times) -> np.ndarray:
        """``S(t | x)`` for each row of ``X`` (rows) and each of ``times`` (columns): ``exp(-H0(t) exp(risk))``
        with Breslow's ``H0`` from the training patients."""
        check_is_fitted(self, "baseline_cumhaz_")
        H0 = step_at(self.baseline_times_, self.baseline_cumhaz_, np.atleast_1d(times), before=0.0)
        return np.exp(-np.outer(np.exp(self.predict(X)), H0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags


class _EfronPartialLikelihood:
    """The Cox partial log-likelihood with Efron's (or Breslow's) handling of tied event times, its gradient and
    its negative Hessian, vectorised over patients and columns (no per-event loop)."""

    def __init__(self, X: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str = "efron"):
        self.X = X
        times, self.tidx = np.unique(time, return_inverse=True)
        self.m = len(times)
        self.event = event
        d = np.bincount(self.tidx[event], minlength=self.m)
        self.k = np.repeat(np.arange(self.m), d)                          # one entry per event
        starts = np.repeat(np.cumsum(d) - d, d)
        frac = (np.arange(self.k.size) - starts) / np.repeat(np.maximum(d, 1), d)
        self.frac = frac if ties == "efron" else np.zeros_like(frac)
        self.sum_x_events = X[event].sum(axis=0)

    def _by_time(self, values, rows=None):
        idx = self.tidx if rows is None else self.tidx[rows]
        if values.ndim == 1:
            return np.bincount(idx, weights=values, minlength=self.m)
        out = np.zeros((self.m, values.shape[1]))
        np.add.at(out, idx, values)
        return out

    def evaluate(self, beta: np.ndarray, hessian: bool = True):
        """``(loglik, gradient, information)`` at ``beta`` (information = minus the Hessian)."""
        X, ev = self.X, self.event
        eta = X @ beta
        shift = eta.max()
        e = np.exp(eta - shift)
        s0r = np.cumsum(self._by_time(e)[::-1])[::-1]
        s0d = self._by_time(e[ev], ev)
        ex = X * e[:, None]
        s1r = np.cumsum(self._by_time(ex)[::-1], axis=0)[::-1]
        s1d = self._by_time(ex[ev], ev)
        s0 = s0r[self.k] - self.frac * s0d[self.k]
        a = (s1r[self.k] - self.frac[:, None] * s1d[self.k]) / s0[:, None]
        loglik = float(eta[ev].sum() - (np.log(s0) + shift).sum())
        grad = self.sum_x_events - a.sum(axis=0)
        if not hessian:
            return loglik, grad, None
        c = np.bincount(self.k, weights=1.0 / s0, minlength=self.m)
        b = np.bincount(self.k, weights=self.frac / s0, minlength=self.m)
        w = e * (np.cumsum(c)[self.tidx] - ev * b[self.tidx])
        info = (X * w[:, None]).T @ X - a.T @ a
        return loglik, grad, info


def _soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


class CoxPH(SurvivalMixin, BaseEstimator):
    """(Penalized) Cox proportional-hazards model, fitted by Newton-Raphson on the partial likelihood.

    Minimises ``-loglik(b) / n + alpha * ((1 - l1_ratio) / 2 * ||b||^2 + l1_ratio * ||b||_1)`` over the
    coefficients ``b`` of the standardised columns (glmnet's scaling), by Newton steps (proximal Newton with
    coordinate descent when ``l1_ratio > 0``) with step halving. ``alpha=0`` gives the maximum partial-likelihood
    fit, equal to R ``survival::coxph`` with the same ``ties``.

    Parameters
    ----------
    alpha : float, default=0.1
        Penalty strength.
    l1_ratio : float, default=0.0
        Share of the L1 (lasso) part of the elastic-net penalty (coefficients can then be exactly 0).
    ties : {"efron", "breslow"}, default="efron"
        Handling of tied event times in the partial likelihood.
    max_iter : int, default=100
        Newton iterations.
    tol : float, default=1e-9
        Convergence: relative change of the objective.

    Attributes
    ----------
    coef_ : ndarray (n_features_in_,)
        Log hazard ratios per unit of each column (0 for constant columns, which are left out of the fit).
    offset_ : float
        ``coef_`` times the training means: ``predict`` is centred on the average training patient.
    log_likelihood_ : float
        Partial log-likelihood at ``coef_``.
    n_iter_ : int
    baseline_times_, baseline_cumhaz_ : Breslow's baseline cumulative hazard at the training event times.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="both")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "ties": [StrOptions({"efron", "breslow"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, alpha=0.1, l1_ratio=0.0, ties="efron", max_iter=100, tol=1e-9):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.ties = ties
        self.max_iter = max_iter
        self.tol = tol

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        time, event = split_surv(y, "CoxPH")
        if not event.any():
            raise ValueError("CoxPH: no event among the training patients")
        mean, sd = X.mean(axis=0), X.std(axis=0)
        varying = sd > 0
        Z = (X[:, varying] - mean[varying]) / sd[varying]
        beta, self.log_likelihood_, self.n_iter_ = self._solve(_EfronPartialLikelihood(Z, time, event, self.ties),
                                                               len(time))
        self.coef_ = np.zeros(X.shape[1])
        self.coef_[varying] = beta / sd[varying]
        self.offset_ = float(mean @ self.coef_)  # risk scores centred on the training mean (no overflow in exp)
        self._set_baseline(y, X @ self.coef_ - self.offset_)
        return self

    def _objective(self, pl, beta, n):
        ll, grad, info = pl.evaluate(beta)
        a, r = float(self.alpha), float(self.l1_ratio)
        pen = a * ((1 - r) / 2 * beta @ beta + r * np.abs(beta).sum())
        return -ll / n + pen, ll, grad, info

    def _solve(self, pl, n):
        beta = np.zeros(pl.X.shape[1])
        if beta.size == 0:
            return beta, pl.evaluate(beta, hessian=False)[0], 0
        f, ll, grad, info = self._objective(pl, beta, n)
        n_iter = 0
        while n_iter < int(self.max_iter):
            n_iter += 1
            target = self._newton_target(beta, -grad / n, info / n)
            step, improved = 1.0, False
            for _ in range(30):  # step halving until the objective decreases
                cand = beta + step * (target - beta)
                f_new, ll_new, g_new, i_new = self._objective(pl, cand, n)
                if np.isfinite(f_new) and f_new <= f + 1e-15 * abs(f):
                    improved = True
                    break
                step /= 2
            if not improved:
                break
            done = abs(f - f_new) <= self.tol * (abs(f_new) + self.tol)
            beta, f, ll, grad, info = cand, f_new, ll_new, g_new, i_new
            if done:
                break
        return beta, ll, n_iter

    def _newton_target(self, beta, g, H):
        """The minimiser of the quadratic model of the objective around ``beta`` (``g``, ``H``: gradient and
        Hessian of -loglik/n) plus the penalty."""
        a, r = float(self.alpha), float(self.l1_ratio)
        p = beta.size
        if r == 0 or a == 0:
            A, rhs = H + a * np.eye(p), H @ beta - g   # (H + a I) z = H beta - g
            try:
                return np.linalg.solve(A, rhs)
            except np.linalg.LinAlgError:
                return np.linalg.lstsq(A, rhs, rcond=None)[0]
        z = beta.copy()
        diag = np.diag(H)
        for _ in range(200):  # coordinate descent on the penalized quadratic model
            z_old = z.copy()
            for j in range(p):
                rj = g[j] + H[j] @ (z - beta) - diag[j] * (z[j] - beta[j])
                z[j] = _soft(diag[j] * beta[j] - rj, a * r) / (diag[j] + a * (1 - r))
            if np.max(np.abs(z - z_old)) < 1e-10:
                break
        return z

    def predict(self, X):
        """The linear predictor ``X @ coef_ - offset_``: the log hazard ratio against a patient with the training
        means of every column."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return X @ self.coef_ - self.offset_


_AFT_DISTRIBUTIONS = ("normal", "logistic", "extreme")


class XGBSurvival(SurvivalMixin, BaseEstimator):
    """Gradient-boosted trees for censored survival (XGBoost ``survival:cox`` or ``survival:aft``).

    Parameters
    ----------
    objective : {"survival:cox", "survival:aft"}, default="survival:cox"
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree, min_child_weight, reg_lambda,
    tree_method : as XGBoost's.
    aft_distribution : {"normal", "logistic", "extreme"}, default="normal"
        Error distribution of the AFT model; ``aft_sigma`` its scale.
    random_state, n_jobs : seed and threads.

    ``predict`` returns the log hazard ratio (Cox; missing values go down XGBoost's learnt default branch)
    or minus the predicted log survival time (AFT), so that higher always means higher risk.
    """

    _parameter_constraints: dict = {
        "objective": [StrOptions({"survival:cox", "survival:aft"})],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="left")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "min_child_weight": [Interval(Real, 0, None, closed="left")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "aft_distribution": [StrOptions(set(_AFT_DISTRIBUTIONS))],
        "aft_sigma": [Interval(Real, 0, None, closed="neither")],
        "tree_method": [str],  # XGBoost checks its own names
        "random_state": [Integral, None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, objective="survival:cox", n_estimators=200, max_depth=3, learning_rate=0.05,
                 subsample=1.0, colsample_bytree=1.0, min_child_weight=1.0, reg_lambda=1.0,
                 aft_distribution="normal", aft_sigma=1.0, tree_method="hist", random_state=None, n_jobs=None):
        self.objective = objective
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.aft_distribution = aft_distribution
        self.aft_sigma = aft_sigma
        self.tree_method = tree_method
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict:
        p = {"objective": self.objective, "max_depth": int(self.max_depth), "eta": float(self.learning_rate),
             "subsample": float(self.subsample), "colsample_bytree": float(self.colsample_bytree),
             "min_child_weight": float(self.min_child_weight), "lambda": float(self.reg_lambda),
             "tree_method": self.tree_method, "seed": int(self.random_state or 0),
             "nthread": int(self.n_jobs) if self.n_jobs not in (None, -1) else 0, "verbosity": 0}
        if self.objective == "survival:aft":
            p.update(aft_loss_distribution=self.aft_distribution, aft_loss_distribution_scale=float(self.aft_sigma),
                     eval_metric="aft-nloglik")
        return p

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        import xgboost as xgb

        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, ensure_all_finite="allow-nan")
        time, event = split_surv(y, "XGBSurvival")
        if self.objective == "survival:cox":
            d = xgb.DMatrix(X, label=np.where(event, time, -time))
        else:
            d = xgb.DMatrix(X)
            d.set_float_info("label_lower_bound", time)
            d.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        self.booster_ = xgb.train(self._params(), d, num_boost_round=int(self.n_estimators))
        if self.objective == "survival:cox":
            self._set_baseline(y, self.predict(X))
        return self

    def _margin(self, X):
        import xgboost as xgb

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.booster_.predict(xgb.DMatrix(X), output_margin=True).astype(float)

    def predict(self, X):
        m = self._margin(X)
        return m if self.objective == "survival:cox" else -m

    def predict_survival(self, X, times) -> np.ndarray:
        if self.objective == "survival:cox":
            return super().predict_survival(X, times)
        from scipy import stats

        mu = self._margin(X)[:, None]
        z = (np.log(np.atleast_1d(np.asarray(times, float)))[None, :] - mu) / float(self.aft_sigma)
        if self.aft_distribution == "normal":
            return stats.norm.sf(z)
        if self.aft_distribution == "logistic":
            return stats.logistic.sf(z)
        return np.exp(-np.exp(z))  # extreme value (Gumbel minimum): S = exp(-exp(z))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values go down XGBoost's learnt default branch
        return tags

    @property
    def feature_importances_(self):
        check_is_fitted(self, "booster_")
        gain = self.booster_.get_score(importance_type="gain")
        out = np.zeros(self.n_features_in_)
        for k, v in gain.items():
            out[int(k[1:])] = v
        return out / out.sum() if out.sum() > 0 else out


def _composition():
    from sklearn.utils.metaestimators import _BaseComposition

    return _BaseComposition


class SurvivalStacking(SurvivalMixin, _composition()):
    """Late fusion of survival models: each block's pipeline gives out-of-fold risk scores on the inner folds
    ``cv`` of the training rows, a penalized Cox model (``final_alpha``) combines them, and each block is refitted
    on all training rows. ``predict`` is the meta-model's log hazard ratio; survival probabilities come from its
    Breslow baseline on the out-of-fold scores.

    Parameters
    ----------
    estimators : list of (name, estimator)
        One survival pipeline per block.
    cv : cross-validation splitter
        Inner folds for the out-of-fold block scores.
    final_alpha : float, default=0.1
        Penalty of the Cox meta-model.
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "cv": ["cv_object"],
        "final_alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, estimators, cv=3, final_alpha=0.1):
        self.estimators = estimators
        self.cv = cv
        self.final_alpha = final_alpha

    def get_params(self, deep=True):
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        self._set_params("estimators", **params)
        return self

    # The blocks are the user's estimators: their own parameters are validated when they are fitted.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        from sklearn.base import clone
        from sklearn.model_selection import cross_val_predict

        if y is None:
            raise ValueError("SurvivalStacking requires y to be passed, but the target y is None")
        if np.ndim(X) != 2:
            raise ValueError(f"SurvivalStacking: expected a 2-d X (rows x columns), got {np.ndim(X)} dimension(s)")
        y = np.asarray(y, float)
        split_surv(y, "SurvivalStacking")
        if hasattr(X, "columns"):  # the blocks select their columns by name
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = np.shape(X)[1]
        oof = np.column_stack([cross_val_predict(clone(est), X, y, cv=self.cv) for _, est in self.estimators])
        self.final_estimator_ = CoxPH(alpha=self.final_alpha).fit(oof, y)
        self.estimators_ = [clone(est).fit(X, y) for _, est in self.estimators]
        self.named_estimators_ = dict(zip([n for n, _ in self.estimators], self.estimators_))
        self.baseline_times_ = self.final_estimator_.baseline_times_
        self.baseline_cumhaz_ = self.final_estimator_.baseline_cumhaz_
        return self

    def _stacked(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return np.column_stack([est.predict(X) for est in self.estimators_])

    def predict(self, X):
        stacked = self._stacked(X)  # checks the fit first
        return self.final_estimator_.predict(stacked)


class RandomSurvivalForest(SurvivalMixin, BaseEstimator):
    """Random survival forest (Ishwaran et al. 2008) from scikit-survival, an optional extra
    (``pip install radiomix[survival-extra]``; scikit-survival is GPL-3.0-or-later, so radiomix never requires
    it). ``predict`` is the forest's risk score (the sum of the ensemble cumulative hazard over the training event
    times); ``predict_survival`` its ensemble survival function.

    Parameters
    ----------
    n_estimators, max_depth, min_samples_leaf, max_features : as scikit-survival's.
    random_state, n_jobs : seed and workers.
    """

    # scikit-learn's forest constraints: scikit-survival's forest is one, whose own validation the fit below skips.
    _parameter_constraints: dict = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0.0, 1.0, closed="neither")],
        "max_features": [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0.0, 1.0, closed="right"),
                         StrOptions({"sqrt", "log2"}), None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_estimators=200, max_depth=None, min_samples_leaf=3, max_features="sqrt",
                 random_state=None, n_jobs=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        try:
            from sksurv.ensemble import RandomSurvivalForest as _RSF
            from sksurv.util import Surv
        except ImportError:
            raise ImportError("model 'random_survival_forest' needs scikit-survival (GPL-3.0-or-later, an optional "
                              "extra): pip install 'radiomix[survival-extra]'") from None
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        time, event = split_surv(y, "RandomSurvivalForest")
        self.forest_ = _RSF(n_estimators=self.n_estimators, max_depth=self.max_depth,
                            min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                            random_state=self.random_state, n_jobs=self.n_jobs).fit(X, Surv.from_arrays(event, time))
        return self

    def predict(self, X):
        check_is_fitted(self, "forest_")
        return self.forest_.predict(validate_data(self, X, reset=False))

    def predict_survival(self, X, times) -> np.ndarray:
        check_is_fitted(self, "forest_")
        S = self.forest_.predict_survival_function(validate_data(self, X, reset=False), return_array=True)
        grid = self.forest_.unique_times_
        return np.column_stack([step_at(grid, s, np.atleast_1d(times)) for s in S]).T
