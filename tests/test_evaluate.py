"""Nested CV and metrics: equal to scikit-learn's metric functions, honest under random labels."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer

from radiomix.config import load_config
from radiomix.evaluate import binary_metrics, bootstrap_ci, nested_cv_pipeline, roc_auc, youden_threshold
from radiomix.pipeline import build_pipeline, search_space


def test_roc_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_binary_metrics_equal_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(rng.random(200) * 0.7 + 0.3 * y, 0, 1)
    lab = (p >= youden_threshold(y, p)).astype(int)
    m = binary_metrics(y, p, lab)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, lab))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, lab))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, lab))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, lab, pos_label=0))
    assert m["ppv"] == pytest.approx(skm.precision_score(y, lab))
    assert m["npv"] == pytest.approx(skm.precision_score(y, lab, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, lab))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    # Youden's threshold maximises sensitivity + specificity - 1 on these data.
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert m["sensitivity"] + m["specificity"] - 1 == pytest.approx((tpr - fpr).max())


def _config(**kw):
    cfg = load_config(None, target="target", id="id", batch=None)
    cfg["search"]["n_candidates"] = 4
    cfg["bootstrap"] = 300
    cfg["model"]["params"]["n_estimators"] = 60
    cfg.update(kw)
    return cfg


@pytest.fixture(scope="module")
def breast():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def test_nested_cv_breast_cancer(breast):
    X, y = breast
    cfg = _config()
    res = nested_cv_pipeline(build_pipeline(cfg), X, y, param_distributions=search_space(cfg), n_candidates=4,
                    n_bootstrap=300, progress=False, random_state=0)
    s = res.summary
    assert s["auc"]["estimate"] >= 0.97
    for m in ("auc", "accuracy", "sensitivity", "specificity", "brier"):
        assert s[m]["ci_low"] <= s[m]["estimate"] <= s[m]["ci_high"], m
    # The reported metrics equal scikit-learn's on the saved out-of-fold predictions.
    oof = res.oof
    assert len(oof) == len(y) and oof["id"].nunique() == len(y)
    assert s["auc"]["estimate"] == pytest.approx(skm.roc_auc_score(oof["y"], oof["proba"]))
    assert s["sensitivity"]["estimate"] == pytest.approx(skm.recall_score(oof["y"], oof["label"]))
    assert s["brier"]["estimate"] == pytest.approx(skm.brier_score_loss(oof["y"], oof["proba"]))
    assert (oof["label"] == (oof["proba"] >= oof["threshold"])).all()
    assert len(res.folds) == 5 and res.folds["params"].map(len).gt(0).all()


def test_nested_cv_is_deterministic(breast):
    X, y = breast
    cfg = _config()
    kw = dict(param_distributions=search_space(cfg), n_candidates=2, n_bootstrap=50, progress=False, random_state=3)
    a = nested_cv_pipeline(build_pipeline(cfg), X.iloc[:200], y[:200], **kw)
    b = nested_cv_pipeline(build_pipeline(cfg), X.iloc[:200], y[:200], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.oof, b.oof)


def test_random_labels_score_chance():
    # Leakage canary (the full-pipeline version with mRMR is in test_train.py): pure-noise features and
    # random labels must give out-of-fold AUC near 0.5.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 200)), columns=[f"f{i}" for i in range(200)])
    y = rng.integers(0, 2, 120)
    cfg = _config()
    cfg["model"] = {"name": "logistic", "params": {}, "search": {"C": [0.01, 0.1, 1.0]}}
    res = nested_cv_pipeline(build_pipeline(cfg), X, y, param_distributions=search_space(cfg), n_candidates=3,
                    n_repeats=2, n_bootstrap=0, progress=False, random_state=0)
    assert abs(res.summary["auc"]["estimate"] - 0.5) < 0.1


def test_bootstrap_ci_brackets_and_repeats():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = np.clip(0.3 * y + rng.random((3, 150)) * 0.7, 0, 1)
    lab = (p >= 0.5).astype(int)
    ci = bootstrap_ci(y, p, lab, n_boot=400, random_state=0)
    est = np.mean([skm.roc_auc_score(y, p[r]) for r in range(3)])
    assert ci["auc"][0] < est < ci["auc"][1]
