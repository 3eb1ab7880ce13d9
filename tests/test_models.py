"""XGBoost early stopping on a validation split of the training rows (issue #17, item 4)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedShuffleSplit
from xgboost import XGBClassifier

from radiomix.config import ConfigError, validate_config
from radiomix.models.boosting import EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor


def _noisy(n=300, p=20, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = (rng.random(n) < 1 / (1 + np.exp(-0.8 * X["f0"]))).astype(int).to_numpy()
    return X, y


def test_same_model_as_xgboost_fitted_by_hand_on_the_same_split():
    """Oracle: XGBClassifier given the stratified split's eval_set, predicting with its best iteration."""
    X, y = _noisy()
    ours = EarlyStoppingXGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=10,
                                      validation_fraction=0.25, random_state=3, n_jobs=1).fit(X, y)
    fit, val = next(StratifiedShuffleSplit(1, test_size=0.25, random_state=3).split(X, y))
    ref = XGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=10, random_state=3, n_jobs=1)
    ref.fit(X.iloc[fit], y[fit], eval_set=[(X.iloc[val], y[val])], verbose=False)
    assert ours.best_n_estimators_ == ref.best_iteration + 1 < 300
    assert ours.n_validation_rows_ == len(val) == 75
    np.testing.assert_array_equal(ours.predict_proba(X), ref.predict_proba(X))
    # only the kept trees remain, so SHAP and the saved model see the model that predicts
    assert ours.get_booster().num_boosted_rounds() == ours.best_n_estimators_


def test_deterministic_clonable_and_quiet():
    X, y = _noisy(seed=1)
    est = EarlyStoppingXGBClassifier(n_estimators=200, early_stopping_rounds=5, random_state=0, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. xgboost's "Parameters: { validation_fraction } are not used"
        a = clone(est).fit(X, y).predict_proba(X)
    b = clone(est).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert clone(est).get_params()["validation_fraction"] == 0.2
    c = clone(est).set_params(random_state=1).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)  # the seed also draws the validation rows


def test_regressor_stops_early():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X[:, 0] + rng.normal(size=200)
    reg = EarlyStoppingXGBRegressor(n_estimators=500, early_stopping_rounds=10, random_state=0, n_jobs=1).fit(X, y)
    assert 1 <= reg.best_n_estimators_ < 500 and reg.n_validation_rows_ == 40


@pytest.mark.parametrize("bad", [{"validation_fraction": 1.0}, {"validation_fraction": 0}, {"early_stopping_rounds": 0}])
def test_bad_settings_are_refused(bad):
    X, y = _noisy(n=60)
    params = {"n_estimators": 10, "early_stopping_rounds": 5, **bad}
    with pytest.raises(ValueError, match="validation_fraction|early_stopping_rounds"):
        EarlyStoppingXGBClassifier(**params).fit(X, y)


@pytest.mark.parametrize("cfg, message", [
    ({"groups": "patient"}, "cannot keep the rows of one patient"),
    ({"target": {"time": "t", "event": "e"}}, "not supported for survival"),
    ({"model": {"name": "logistic", "params": {"early_stopping_rounds": 10}}}, "'xgboost' only"),
    ({"model": {"name": "xgboost", "params": {"validation_fraction": 0.3}}}, "only applies with"),
])
def test_config_refuses_early_stopping_where_it_cannot_hold(cfg, message):
    base = {"target": "outcome", "model": {"name": "xgboost", "params": {"early_stopping_rounds": 10}}}
    with pytest.raises(ConfigError, match=message):
        validate_config({**base, **cfg})


def test_study_uses_the_early_stopping_model_and_says_so():
    from radiomix.study import make_study

    X, y = _noisy(n=90, p=4)
    t = X.assign(id=[f"p{i}" for i in range(90)], outcome=y)
    cfg = {"target": "outcome", "model": {"name": "xgboost", "params": {"n_estimators": 50,
                                                                         "early_stopping_rounds": 10}}}
    study = make_study(t, cfg, verbose=False)
    assert type(study.pipeline.named_steps["model"]).__name__ == "EarlyStoppingXGBClassifier"
    assert any("XGBoost stops early: each fit holds out 20% of its training rows" in n for n in study.notes)


def test_final_model_with_early_stopping_saves_and_loads(tmp_path):
    """The early-stopped XGBoost is one of the exact types load_model trusts; the loaded model predicts the same."""
    from radiomix.model import load_model
    from radiomix.train import train

    X, y = _noisy(n=120, p=4)
    t = X.assign(id=[f"p{i}" for i in range(120)], outcome=y)
    cfg = {"target": "outcome", "model": {"name": "xgboost", "params": {"n_estimators": 60, "n_jobs": 1,
                                                                         "early_stopping_rounds": 5}},
           "search": {"n_candidates": 1}, "bootstrap": 0, "safeguards": {"baselines": False, "shap": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(t, cfg, out=tmp_path / "run", progress=False, report=False)
    loaded = load_model(tmp_path / "run" / "model.skops")
    assert type(loaded.pipeline.named_steps["model"]).__name__ == "EarlyStoppingXGBClassifier"
    np.testing.assert_array_equal(loaded.pipeline.predict_proba(X), run.model.pipeline.predict_proba(X))
