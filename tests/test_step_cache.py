"""Preprocessing fitted once per inner training set (model_selection.step_cache): identical results, fewer fits."""

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler


def _table(n=60, p=8, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"original_firstorder_F{i}" for i in range(p)])
    site = np.repeat(["A", "B", "C"], n // 3)
    X += (pd.Series(site).map({"A": 0.0, "B": 0.8, "C": -0.5}).to_numpy()[:, None])
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * X["original_firstorder_F0"]))).astype(int)
    X = X.mask(rng.random(X.shape) < 0.05)
    return X.assign(id=[f"p{i}" for i in range(n)], outcome=y, site=site,
                    age=rng.normal(60, 8, n).round())


CFG = {"target": "outcome", "batch": "site",
       "harmonize": {"method": "combat", "features": "all", "exclude": ["age"]},
       "impute": {"method": "surrogate_tree"}, "select": {"mrmr": 5},
       "model": {"name": "xgboost", "params": {"n_estimators": 20, "tree_method": "hist"},
                 "search": {"max_depth": [2, 3], "learning_rate": [0.1, 0.3]}},
       "search": {"n_candidates": 3, "method": "random"}, "cv": {"outer": {"n_splits": 3}, "inner": {"n_splits": 3}}, "bootstrap": 0, "final_model": False,
       "safeguards": {"baselines": False, "shap": False}, "n_jobs": 1}  # fits counted in this process


@pytest.fixture
def fit_counter(monkeypatch):
    from radiomix.impute import SurrogateTreeImputer

    calls = []
    real = SurrogateTreeImputer.fit_transform
    monkeypatch.setattr(SurrogateTreeImputer, "fit_transform",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    return calls


def _run(cached: bool, monkeypatch):
    import radiomix.model_selection.search as search
    import radiomix.model_selection.validation as ev
    from radiomix.study import make_study

    if not cached:
        monkeypatch.setattr(search, "step_cache", contextlib.nullcontext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(_table(), CFG, verbose=False)
        return ev.nested_cv(study, progress=False)


def test_cached_preprocessing_gives_identical_results_with_fewer_fits(monkeypatch, fit_counter):
    plain = _run(False, monkeypatch)
    n_plain = len(fit_counter)
    monkeypatch.undo()
    fit_counter.clear()
    from radiomix.impute import SurrogateTreeImputer

    real = SurrogateTreeImputer.fit_transform
    monkeypatch.setattr(SurrogateTreeImputer, "fit_transform",
                        lambda self, *a, **k: fit_counter.append(1) or real(self, *a, **k))
    cached = _run(True, monkeypatch)
    pd.testing.assert_frame_equal(plain.oof, cached.oof)
    pd.testing.assert_frame_equal(plain.folds.drop(columns="seconds"), cached.folds.drop(columns="seconds"))
    # per outer fold: (3 candidates + finalize) x 3 inner folds + the refit, against 3 inner sets + the refit
    assert n_plain == 3 * ((3 + 1) * 3 + 1) and len(fit_counter) == 3 * (3 + 1)
    # the fitted fold models point at no temporary folder
    for model, *_ in cached.models:
        assert all(v is None for k, v in model.get_params(deep=True).items() if k.endswith("memory"))


def test_saved_final_model_carries_no_cache(tmp_path):
    """The final model (here wrapped by the SMOTE correction) is saved and loaded with the trusted types only:
    no StoredMemory, no temporary folder left inside it."""
    from radiomix.model import load_model
    from radiomix.train import train

    cfg = {**CFG, "balance": {"method": "smote"}, "final_model": True, "impute": {"method": "median"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(_table(), cfg, out=tmp_path / "run", progress=False, report=False)
    model = load_model(tmp_path / "run" / "model.skops")
    inner = model.pipeline.estimator_ if hasattr(model.pipeline, "estimator_") else model.pipeline
    for est in (model.pipeline, inner, run.model.pipeline):
        assert all(v is None for k, v in est.get_params(deep=True).items() if k.endswith("memory"))
    assert type(model.pipeline).__name__ == "RecalibratedClassifier"


def test_a_step_joblib_cannot_hash_is_fitted_uncached():
    """Your own Pipeline with a lambda (joblib cannot hash it) still runs, with the same result as uncached."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from radiomix.model_selection import drop_step_cache, step_cache

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=list("abc"))
    y = (X["a"] + 0.5 * np.random.default_rng(1).normal(size=50) > 0).astype(int).to_numpy()
    pipe = Pipeline([("f", FunctionTransformer(lambda z: z * 2)), ("s", StandardScaler()), ("m", LogisticRegression())])
    with step_cache(pipe) as cached:
        fitted = drop_step_cache(cached.fit(X, y))
    np.testing.assert_allclose(fitted.predict_proba(X), pipe.fit(X, y).predict_proba(X))


class HandsOn(TransformerMixin, BaseEstimator):
    """Returns its input object itself (module level: joblib must be able to hash it)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


class CountedScaler(StandardScaler):
    fits: list = []

    def fit(self, X, y=None, sample_weight=None):
        type(self).fits.append(len(X))
        return super().fit(X, y, sample_weight)


def test_a_step_that_hands_its_input_on_keeps_the_next_steps_cached():
    """Keys name a cached step's output by the call that made it; a step returning its input unchanged must not
    give that object a second name (the next step would then miss the cache at every candidate)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline

    from radiomix.model_selection import SearchPlan, fit_tuned

    CountedScaler.fits = fits = []
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(90, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=90) > 0).astype(int).to_numpy()
    pipe = Pipeline([("same", HandsOn()), ("scale", CountedScaler()), ("m", LogisticRegression())])
    plan = SearchPlan({"m__C": [0.1, 1.0, 10.0]}, "grid", threshold=0.5)
    fit_tuned(pipe, plan, X, y, cv=KFold(3))
    assert len(fits) == 3 + 1  # once per inner training set and once for the refit, not once per candidate
